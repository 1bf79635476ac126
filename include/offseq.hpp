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
//   1. Configuration        OFFSEQ_CACHE_LINE, OFFSEQ_ASSERT, optional offseq_config.h
//   2. Status               status, to_string
//   3. Sync policies        atomic_sync, atomic_sync32, critical_section_sync<Guard, Word>
//   4. Commit tracker       commit_tracker<Partitions, Window, Sync>
//   5. Sequence table       batch_header, verdict, sequence_table<Producers, History, Strict>
//   6. Transactions         txn_state, is_valid_transition, txn_coordinator, txn_index
//   7. Journal              crc32c, Storage concept, journal<Storage>
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
#else
inline constexpr std::size_t cache_align = 1;
#endif

constexpr unsigned count_trailing_ones(std::uint64_t v) noexcept {
  unsigned n = 0;
  while (v & 1u) {
    v >>= 1;
    ++n;
  }
  return n;
}
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
//   head   = position (P bits, low) | change counter v (W-P bits, high). Every change of
//            position is a CAS on head; assign/revoke add 1 to v, so a commit that read head
//            before an assign cannot CAS it afterwards: commits are linearizable with fencing.
//   owner  = 32 bits: bit 31 "no owner" | generation (31 bits) last handed out. assign()
//            writes owner before bumping v; commit reads head before owner, so a commit that
//            sees the old owner also holds a head that the bump will invalidate.
//   slots  = S = ceil(Window/B)+1 words, each tag (block number, W-B bits) | B completion
//            bits for offsets [tag*B, tag*B+B). Block b lives in slot b % S; the live window
//            [pos, pos+Window) spans at most S blocks, so live blocks never share a slot, and a
//            slot whose tag is not the live block there holds a dead block (all offsets below
//            pos) that may be overwritten. Tags are exact block numbers (never wrap within
//            the position range), so a stale slot can never alias a live block.
//   dirty  = position changed since the last drain.
//
//                 W=64 (atomic_sync)     W=32 (atomic_sync32)
//   positions     0 .. 2^48-1            0 .. 2^24-1
//   offsets       0 .. 2^48-2            0 .. 2^24-2      (offset o needs position o+1)
//   generations   1 .. 2^31-1, then wraps to 1 (the holder of a generation 2^31-1 assigns old
//                 would alias: documented, unreachable in practice)
//   B (bits/slot) 16                     8
// Input beyond these limits is invalid_argument, never an overflow.
// ============================================================================================
template <std::size_t Partitions, std::size_t Window = 64, class Sync = atomic_sync>
class commit_tracker {
 public:
  using generation = std::uint32_t;
  using sync_type = Sync;
  using word = typename Sync::word;

  static_assert(Partitions >= 1, "offseq: commit_tracker needs at least one partition");
  static_assert(Window >= 1 && Window <= 65536, "offseq: Window is 1..65536 offsets");

  static constexpr unsigned word_bits = sizeof(word) * CHAR_BIT;
  static constexpr unsigned position_bits = word_bits == 64 ? 48 : 24;
  static constexpr unsigned block_bits = word_bits == 64 ? 16 : 8;  ///< completion bits per slot
  static constexpr std::int64_t max_position = (std::int64_t{1} << position_bits) - 1;
  static constexpr std::size_t slots_per_partition = (Window + block_bits - 1) / block_bits + 1;
  static constexpr generation max_generation = 0x7fffffffu;
  static constexpr std::size_t window = Window;

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
    } while (!s.owner.compare_exchange(cur, next));
    s.head.fetch_add(version_one);  // after owner: see the class comment
    return next;
  }

  /// The partition is no longer owned here: every generation handed out so far is fenced.
  void revoke(std::size_t p) noexcept {
    if (p >= Partitions) return;
    partition& s = parts_[p];
    s.owner.fetch_or(no_owner_bit);
    s.head.fetch_add(version_one);
  }

  /// In-order processing finished everything below `next`.
  status commit(std::size_t p, std::int64_t next, generation g) noexcept {
    if (p >= Partitions || !valid_position(next)) return status::invalid_argument;
    return raise_to(parts_[p], next, g);
  }

  /// Offset `offset` alone is processed (workers finish out of order).
  status complete(std::size_t p, std::int64_t offset, generation g) noexcept {
    if (p >= Partitions || offset < 0 || offset >= max_position) return status::invalid_argument;
    return complete_span(parts_[p], offset, offset + 1, g);
  }

  /// Every offset in [first, end) is processed: a batch, or a gap Kafka leaves in a partition.
  status complete_range(std::size_t p, std::int64_t first, std::int64_t end, generation g) noexcept {
    if (p >= Partitions || first < 0 || end < first || !valid_position(end)) return status::invalid_argument;
    return complete_span(parts_[p], first, end, g);
  }

  /// True for every offset below committed(p) and for completions recorded above it.
  bool is_completed(std::size_t p, std::int64_t offset) const noexcept {
    if (p >= Partitions || offset < 0 || offset >= max_position) return false;
    const partition& s = parts_[p];
    const std::uint64_t o = static_cast<std::uint64_t>(offset);
    const std::uint64_t block = o / block_bits;
    const word slot = s.slots[block % slots_per_partition].load();
    if (tag_of(slot) == block && (slot >> (o % block_bits)) & 1u) return true;
    // Not in the slot: either never completed, or the floor passed it and the slot was reused.
    return o < position_of(s.head.load());
  }

  /// Next offset to consume; -1 for p >= Partitions.
  std::int64_t committed(std::size_t p) const noexcept {
    if (p >= Partitions) return -1;
    return static_cast<std::int64_t>(position_of(parts_[p].head.load()));
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
  /// previous drain, with its latest position. A sink returning false keeps p pending.
  /// Returns how many positions the sink accepted. Under a race with a concurrent advance a
  /// position may be handed over twice (harmless for persistence); one is never missed.
  template <class Sink>
  std::size_t drain(Sink&& sink) noexcept {
    std::size_t accepted = 0;
    for (std::size_t p = 0; p < Partitions; ++p) {
      partition& s = parts_[p];
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
    const std::uint64_t floor = position_of(s.head.load());
    snap.position = static_cast<std::int64_t>(floor);
    for (std::size_t i = 0; i < Window; ++i) {
      const std::uint64_t o = floor + i;
      const std::uint64_t block = o / block_bits;
      const word slot = s.slots[block % slots_per_partition].load();
      if (tag_of(slot) == block && ((slot >> (o % block_bits)) & 1u))
        snap.completed[i / 8] = static_cast<std::uint8_t>(snap.completed[i / 8] | (1u << (i % 8)));
    }
    return snap;
  }

  /// Boot: restore a snapshot (position and completions above it). Like restore(p, position)
  /// otherwise; completions at the floor are absorbed at once.
  status restore(std::size_t p, const window_snapshot& snap) noexcept {
    if (p >= Partitions || !valid_position(snap.position)) return status::invalid_argument;
    const std::uint64_t floor = static_cast<std::uint64_t>(snap.position);
    for (std::size_t i = 0; i < Window; ++i)
      if (((snap.completed[i / 8] >> (i % 8)) & 1u) && floor + i >= static_cast<std::uint64_t>(max_position))
        return status::invalid_argument;
    partition& s = parts_[p];
    rewind(s, snap.position);
    s.dirty.store(0);
    for (std::size_t i = 0; i < Window; ++i)
      if ((snap.completed[i / 8] >> (i % 8)) & 1u) set_bits(s, (floor + i) / block_bits, static_cast<word>(word{1} << ((floor + i) % block_bits)));
    advance(s);
    return status::ok;
  }

  /// True if p's position changed since the last drain (for tests and metrics).
  bool pending(std::size_t p) const noexcept { return p < Partitions && parts_[p].dirty.load() != 0; }

  /// Current generation of p, 0 if none (never assigned, or revoked).
  generation current_generation(std::size_t p) const noexcept {
    if (p >= Partitions) return 0;
    const std::uint32_t o = parts_[p].owner.load();
    return (o & no_owner_bit) ? 0 : o;
  }

  static constexpr std::size_t partitions() noexcept { return Partitions; }

 private:
  template <class T>
  using cell = typename Sync::template cell<T>;

  static constexpr word position_mask = (word{1} << position_bits) - 1;
  static constexpr word version_one = word{1} << position_bits;
  static constexpr word block_mask = (word{1} << block_bits) - 1;
  static constexpr std::uint32_t no_owner_bit = 0x80000000u;

  struct alignas(detail::cache_align) partition {
    cell<word> head;
    cell<std::uint32_t> owner{no_owner_bit};  // never assigned: generation 0 is never current
    cell<std::uint32_t> dirty;
    // All zero: every slot holds tag 0, which is block 0 in slot 0 and, in any other slot,
    // a block that cannot live there (block b lives in slot b % S), so it reads as empty.
    cell<word> slots[slots_per_partition];
  };

  static constexpr bool valid_position(std::int64_t v) noexcept { return v >= 0 && v <= max_position; }
  static constexpr std::uint64_t position_of(word h) noexcept { return h & position_mask; }
  static constexpr word with_position(word h, std::uint64_t pos) noexcept {
    return static_cast<word>((h & ~position_mask) | static_cast<word>(pos));
  }
  static constexpr std::uint64_t tag_of(word slot) noexcept { return slot >> block_bits; }
  static constexpr word make_slot(std::uint64_t block, word bits) noexcept {
    return static_cast<word>((static_cast<word>(block) << block_bits) | bits);
  }
  static bool owns(const partition& s, generation g) noexcept {
    return g != 0 && s.owner.load() == g;  // no_owner_bit set never equals a generation
  }

  static void rewind(partition& s, std::int64_t position) noexcept {
    const std::uint64_t pos = static_cast<std::uint64_t>(position);
    const std::uint64_t first_block = pos / block_bits;
    for (std::uint64_t b = first_block; b < first_block + slots_per_partition; ++b)
      s.slots[b % slots_per_partition].store(make_slot(b, 0));
    const word h = s.head.load();
    s.head.store(with_position(static_cast<word>(h + version_one), pos));
  }

  // Moves the position up to `next` (commit, or a range starting at or below the floor).
  status raise_to(partition& s, std::int64_t next, generation g) noexcept {
    word h = s.head.load();
    for (;;) {
      if (!owns(s, g)) return status::fenced;  // read after head: see the class comment
      if (static_cast<std::uint64_t>(next) <= position_of(h)) return status::stale;
      if (s.head.compare_exchange(h, with_position(h, static_cast<std::uint64_t>(next)))) break;
    }
    mark_dirty(s);
    advance(s);
    return status::ok;
  }

  status complete_span(partition& s, std::int64_t first, std::int64_t end, generation g) noexcept {
    const word h = s.head.load();
    if (!owns(s, g)) return status::fenced;
    const std::uint64_t floor = position_of(h);
    const std::uint64_t f = static_cast<std::uint64_t>(first), e = static_cast<std::uint64_t>(end);
    if (f == e) return status::stale;
    if (f <= floor) return raise_to(s, end, g);
    if (e > floor + Window) return status::window_full;
    // The bits are facts ("processed"), so once the checks passed they are recorded even if
    // an assign lands meanwhile: the call started before that assign returned (CONTRACT).
    for (std::uint64_t block = f / block_bits; block * block_bits < e; ++block) {
      const std::uint64_t lo = block * block_bits > f ? block * block_bits : f;
      const std::uint64_t hi = (block + 1) * block_bits < e ? (block + 1) * block_bits : e;
      const unsigned shift = static_cast<unsigned>(lo % block_bits);
      const unsigned count = static_cast<unsigned>(hi - lo);
      const word bits = static_cast<word>((count == block_bits ? block_mask : ((word{1} << count) - 1)) << shift);
      set_bits(s, block, bits);
    }
    advance(s);
    return status::ok;
  }

  static void set_bits(partition& s, std::uint64_t block, word bits) noexcept {
    cell<word>& slot = s.slots[block % slots_per_partition];
    word cur = slot.load();
    for (;;) {
      if (tag_of(cur) == block) {
        if ((cur & bits) == bits) return;
        if (slot.compare_exchange(cur, static_cast<word>(cur | bits))) return;
        continue;
      }
      // The slot holds another block. If the floor has passed ours, the offsets are covered.
      // Otherwise ours is live, so the other is dead and the slot is ours to claim.
      if ((block + 1) * block_bits <= position_of(s.head.load())) return;
      if (slot.compare_exchange(cur, make_slot(block, bits))) return;
    }
  }

  // Absorbs contiguous completed offsets at the floor. Anyone may help: the bits are facts
  // and the CAS keeps the change counter, so ownership is untouched. Loops until no
  // completion sits at the floor, so the last completer always leaves the floor past it.
  static void advance(partition& s) noexcept {
    word h = s.head.load();
    for (;;) {
      const std::uint64_t floor = position_of(h);
      std::uint64_t pos = floor;
      for (std::size_t n = 0; n < slots_per_partition; ++n) {
        const std::uint64_t block = pos / block_bits;
        const word slot = s.slots[block % slots_per_partition].load();
        if (tag_of(slot) != block) break;
        const unsigned shift = static_cast<unsigned>(pos % block_bits);
        const unsigned ones = detail::count_trailing_ones(static_cast<std::uint64_t>((slot & block_mask) >> shift));
        pos += ones;
        if (shift + ones < block_bits) break;
      }
      OFFSEQ_ASSERT(pos <= static_cast<std::uint64_t>(max_position));  // bits exist only below it
      if (pos == floor) return;
      const word next = with_position(h, pos);
      if (s.head.compare_exchange(h, next)) {
        mark_dirty(s);
        h = next;
      }
    }
  }

  static void mark_dirty(partition& s) noexcept {
    if (s.dirty.load() == 0) s.dirty.store(1);
  }

  template <class Sink>
  static bool hand_over(Sink& sink, std::size_t p, std::int64_t pos) noexcept {
    if constexpr (std::is_void<decltype(sink(p, pos))>::value) {
      sink(p, pos);
      return true;
    } else {
      return static_cast<bool>(sink(p, pos));
    }
  }

  partition parts_[Partitions];
};

// ============================================================================================
// 5. Sequence table — accept each batch once (SEMANTICS.md §2)
// ============================================================================================
// @@SEQUENCE_TABLE@@

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

/// Kafka's classic transition table (SEMANTICS.md §3): true iff `from` is a valid previous
/// state of `to`. Out-of-range enumerator values are never valid.
constexpr bool is_valid_transition(txn_state from, txn_state to) noexcept {
  using s = txn_state;
  switch (to) {
    case s::empty: return from == s::empty || from == s::complete_commit || from == s::complete_abort;
    case s::ongoing:
      return from == s::ongoing || from == s::empty || from == s::complete_commit || from == s::complete_abort;
    case s::prepare_commit: return from == s::ongoing;
    case s::prepare_abort: return from == s::ongoing || from == s::prepare_epoch_fence;
    case s::complete_commit: return from == s::prepare_commit;
    case s::complete_abort: return from == s::prepare_abort;
    case s::dead: return from == s::empty || from == s::complete_abort || from == s::complete_commit;
    case s::prepare_epoch_fence: return from == s::ongoing;
  }
  return false;
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

// @@TXN_COORDINATOR@@

// 6b. txn_index — per data partition: last stable offset, aborted ranges (SEMANTICS.md §4)
// @@TXN_INDEX@@

// ============================================================================================
// 7. Journal — durable state (SEMANTICS.md §5)
// ============================================================================================
// @@JOURNAL@@

}  // namespace v1
}  // namespace offseq

#endif  // OFFSEQ_HPP
