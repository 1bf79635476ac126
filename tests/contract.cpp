// Conformance suite written from /work/shared/design/CONTRACT.md and SEMANTICS.md alone, as an
// outside team would: only names, signatures, template parameters and defaults the contract
// spells, and only behaviour the texts state. "C:" cites CONTRACT.md, "S:" SEMANTICS.md.
// A check that the header does not meet is kept, marked MISMATCH, and compiled out.
#include <doctest/doctest.h>

#include <offseq.hpp>
#include <sim_flash.hpp>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

// ------------------------------------------------------------------ compile-time promises
// C: Shape — version macros exist and are usable in the preprocessor.
#if !defined(OFFSEQ_VERSION_MAJOR) || !defined(OFFSEQ_VERSION_MINOR) || !defined(OFFSEQ_VERSION_PATCH)
#error "CONTRACT.md Shape: version macros missing"
#endif
#if OFFSEQ_VERSION_MAJOR < 0 || OFFSEQ_VERSION_MINOR < 0 || OFFSEQ_VERSION_PATCH < 0
#error "CONTRACT.md Shape: version macros are not non-negative integers"
#endif

namespace contract_probe {
// C: Transactions / Persistence — the templates exist under these names.
using offseq::journal;
using offseq::txn_coordinator;
using offseq::txn_index;
}  // namespace contract_probe

// A generic harness over the parameter lists CONTRACT.md spells. C++17 (P0522R0) matches
// templates with extra defaulted parameters; clang before 19 needs
// -frelaxed-template-template-args for that, and has no __cpp_template_template_args then.
#if defined(__cpp_template_template_args)
namespace contract_probe {
template <template <std::size_t, std::size_t, class> class T>
struct tracker_harness {
  T<2, 64, offseq::atomic_sync> t;
};
template <template <std::size_t, std::size_t> class T>
struct table_harness {
  T<2, 5> t;
};
static_assert(sizeof(tracker_harness<offseq::commit_tracker>) > 0, "");
static_assert(sizeof(table_harness<offseq::sequence_table>) > 0, "");
}  // namespace contract_probe
#else
// MISMATCH (clang < 19 only, compile-time): commit_tracker has a 4th template parameter
// (Stripes) and sequence_table a 3rd (Strict); a harness taking
// `template <std::size_t, std::size_t, class> class` / `template <std::size_t, std::size_t> class`
// does not accept them without relaxed matching.
#endif

namespace {
using offseq::status;
using offseq::txn_state;

// C: Status — `enum class status : std::uint8_t`, enumerators in the order written.
static_assert(std::is_enum<status>::value, "status is an enum");
static_assert(!std::is_convertible<status, int>::value, "status is an enum class");
static_assert(std::is_same<std::underlying_type<status>::type, std::uint8_t>::value, "status : std::uint8_t");
constexpr status all_status[] = {
    status::ok,           status::stale,          status::fenced,        status::duplicate,
    status::out_of_order, status::unknown_producer, status::window_full, status::table_full,
    status::invalid_state, status::concurrent_transactions, status::invalid_argument,
    status::not_found,    status::io_error,       status::corrupt};
constexpr const char* all_status_names[] = {
    "ok",           "stale",          "fenced",        "duplicate",
    "out_of_order", "unknown_producer", "window_full", "table_full",
    "invalid_state", "concurrent_transactions", "invalid_argument",
    "not_found",    "io_error",       "corrupt"};
static_assert(static_cast<std::uint8_t>(status::ok) == 0 && static_cast<std::uint8_t>(status::corrupt) == 13,
              "C: Status — enumerators numbered in the order written (implicit values)");
// C: Status — `const char* to_string(status) noexcept`.
static_assert(std::is_same<decltype(offseq::to_string(status::ok)), const char*>::value, "to_string(status) -> const char*");
static_assert(noexcept(offseq::to_string(status::ok)), "to_string(status) noexcept");

// C: Transactions — `enum class txn_state : std::uint8_t`, values 0..7 = Kafka's ids in this order.
static_assert(std::is_same<std::underlying_type<txn_state>::type, std::uint8_t>::value, "txn_state : std::uint8_t");
static_assert(static_cast<int>(txn_state::empty) == 0 && static_cast<int>(txn_state::ongoing) == 1 &&
                  static_cast<int>(txn_state::prepare_commit) == 2 && static_cast<int>(txn_state::prepare_abort) == 3 &&
                  static_cast<int>(txn_state::complete_commit) == 4 && static_cast<int>(txn_state::complete_abort) == 5 &&
                  static_cast<int>(txn_state::dead) == 6 && static_cast<int>(txn_state::prepare_epoch_fence) == 7,
              "C: Transactions — txn_state values are Kafka's TransactionState ids");
static_assert(std::is_same<decltype(offseq::to_string(txn_state::empty)), const char*>::value, "to_string(txn_state)");
static_assert(noexcept(offseq::to_string(txn_state::empty)), "to_string(txn_state) noexcept");
static_assert(noexcept(offseq::is_valid_transition(txn_state::empty, txn_state::ongoing)), "is_valid_transition noexcept");
static_assert(std::is_same<decltype(offseq::is_valid_transition(txn_state::empty, txn_state::empty)), bool>::value,
              "is_valid_transition -> bool");

// S: §3 — the classic table, as a constexpr function checked over all 64 pairs at compile time.
constexpr bool table_says(txn_state from, txn_state to) {
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
constexpr bool whole_table_matches() {
  for (int f = 0; f < 8; ++f)
    for (int t = 0; t < 8; ++t)
      if (offseq::is_valid_transition(static_cast<txn_state>(f), static_cast<txn_state>(t)) !=
          table_says(static_cast<txn_state>(f), static_cast<txn_state>(t)))
        return false;
  return true;
}
static_assert(whole_table_matches(), "S: §3 — is_valid_transition is exactly Kafka's classic table (constexpr)");

// C: Commit tracker — template parameters and their defaults, the generation type.
using tracker = offseq::commit_tracker<4>;
static_assert(std::is_same<tracker, offseq::commit_tracker<4, 64, offseq::atomic_sync>>::value,
              "C: commit_tracker<Partitions, Window = 64, Sync = offseq::atomic_sync>");
static_assert(std::is_same<tracker::generation, std::uint32_t>::value, "C: using generation = std::uint32_t");
// C: Shape — usable as a static or stack object; sizeof a compile-time function of the arguments.
static_assert(std::is_default_constructible<tracker>::value, "commit_tracker default-constructible");
constexpr std::size_t tracker_size = sizeof(offseq::commit_tracker<4>);
constexpr std::size_t tracker_size_big = sizeof(offseq::commit_tracker<16, 128>);
static_assert(tracker_size > 0 && tracker_size_big > 0, "sizeof is a compile-time constant");

// C: every operation listed is noexcept, with the return types spelled.
template <class T>
constexpr bool tracker_signatures() {
  T* t = nullptr;
  const T* ct = nullptr;
  typename T::generation g{};
  static_assert(noexcept(t->restore(std::size_t{0}, std::int64_t{0})), "restore noexcept");
  static_assert(noexcept(t->assign(std::size_t{0})), "assign noexcept");
  static_assert(std::is_same<decltype(t->assign(std::size_t{0})), typename T::generation>::value, "assign -> generation");
  static_assert(noexcept(t->commit(std::size_t{0}, std::int64_t{0}, g)), "commit noexcept");
  static_assert(std::is_same<decltype(t->commit(std::size_t{0}, std::int64_t{0}, g)), status>::value, "commit -> status");
  static_assert(noexcept(t->complete(std::size_t{0}, std::int64_t{0}, g)), "complete noexcept");
  static_assert(std::is_same<decltype(t->complete(std::size_t{0}, std::int64_t{0}, g)), status>::value, "complete -> status");
  static_assert(noexcept(t->complete_range(std::size_t{0}, std::int64_t{0}, std::int64_t{0}, g)), "complete_range noexcept");
  static_assert(std::is_same<decltype(t->complete_range(std::size_t{0}, std::int64_t{0}, std::int64_t{0}, g)), status>::value,
                "complete_range -> status");
  static_assert(noexcept(t->revoke(std::size_t{0})), "revoke noexcept");
  static_assert(noexcept(ct->is_completed(std::size_t{0}, std::int64_t{0})), "is_completed const noexcept");
  static_assert(std::is_same<decltype(ct->is_completed(std::size_t{0}, std::int64_t{0})), bool>::value, "is_completed -> bool");
  static_assert(noexcept(ct->committed(std::size_t{0})), "committed const noexcept");
  static_assert(std::is_same<decltype(ct->committed(std::size_t{0})), std::int64_t>::value, "committed -> std::int64_t");
  static_assert(noexcept(t->reset(std::size_t{0}, std::int64_t{0})), "reset noexcept");
  static_assert(std::is_same<decltype(t->reset(std::size_t{0}, std::int64_t{0})), status>::value, "reset -> status");
  auto bool_sink = [](std::size_t, std::int64_t) { return true; };
  auto void_sink = [](std::size_t, std::int64_t) {};
  static_assert(noexcept(t->drain(bool_sink)), "drain noexcept");
  static_assert(std::is_same<decltype(t->drain(bool_sink)), std::size_t>::value, "drain -> std::size_t");
  static_assert(std::is_same<decltype(t->drain(void_sink)), std::size_t>::value, "drain(void sink) -> std::size_t");
  return true;
}
static_assert(tracker_signatures<tracker>(), "");

// C: Sync — `offseq::critical_section_sync<Guard>` with an RAII Guard from the platform.
std::mutex guard_mutex;  // stands in for "mask interrupts": a test-side global is fine
struct test_guard {
  test_guard() { guard_mutex.lock(); }
  ~test_guard() { guard_mutex.unlock(); }
  test_guard(const test_guard&) = delete;
  test_guard& operator=(const test_guard&) = delete;
};
using cs_tracker = offseq::commit_tracker<2, 64, offseq::critical_section_sync<test_guard>>;
static_assert(tracker_signatures<cs_tracker>(), "");

// C: Sequence table — the structs as spelled (aggregates, field types) and the defaults.
static_assert(std::is_same<decltype(offseq::batch_header::producer_id), std::int64_t>::value, "");
static_assert(std::is_same<decltype(offseq::batch_header::epoch), std::int16_t>::value, "");
static_assert(std::is_same<decltype(offseq::batch_header::first_seq), std::int32_t>::value, "");
static_assert(std::is_same<decltype(offseq::batch_header::last_seq), std::int32_t>::value, "");
static_assert(std::is_same<decltype(offseq::verdict::code), status>::value, "");
static_assert(std::is_same<decltype(offseq::verdict::offset), std::int64_t>::value, "");
static_assert(std::is_same<decltype(offseq::verdict::expected_seq), std::int32_t>::value, "");
using table = offseq::sequence_table<4>;
static_assert(std::is_same<table, offseq::sequence_table<4, 5>>::value, "C: sequence_table<Producers, History = 5>");
static_assert(std::is_default_constructible<table>::value, "sequence_table default-constructible");
constexpr std::size_t table_size = sizeof(offseq::sequence_table<4>);
static_assert(table_size > 0, "sizeof is a compile-time constant");
template <class T>
constexpr bool table_signatures() {
  T* t = nullptr;
  const T* ct = nullptr;
  const offseq::batch_header b{1, 0, 0, 0};
  static_assert(noexcept(ct->check(b)), "check const noexcept");
  static_assert(std::is_same<decltype(ct->check(b)), offseq::verdict>::value, "check -> verdict");
  static_assert(noexcept(t->record(b, std::int64_t{0}, std::uint64_t{0})), "record noexcept");
  static_assert(std::is_same<decltype(t->record(b, std::int64_t{0}, std::uint64_t{0})), status>::value, "record -> status");
  static_assert(noexcept(t->admit(b, std::int64_t{0}, std::uint64_t{0})), "admit noexcept");
  static_assert(std::is_same<decltype(t->admit(b, std::int64_t{0}, std::uint64_t{0})), offseq::verdict>::value,
                "admit -> verdict");
  static_assert(noexcept(t->expire(std::uint64_t{0}, std::uint64_t{0})), "expire noexcept");
  static_assert(std::is_same<decltype(t->expire(std::uint64_t{0}, std::uint64_t{0})), std::size_t>::value, "expire -> size_t");
  static_assert(noexcept(ct->size()), "size const noexcept");
  static_assert(std::is_same<decltype(ct->size()), std::size_t>::value, "size -> size_t");
  return true;
}
static_assert(table_signatures<table>(), "");

// C: usable as a static object.
tracker static_tracker;
table static_table;

using drained_list = std::vector<std::pair<std::size_t, std::int64_t>>;
template <class T>
drained_list drain_all(T& t) {
  drained_list out;
  t.drain([&](std::size_t p, std::int64_t pos) { out.emplace_back(p, pos); });
  std::sort(out.begin(), out.end());
  return out;
}

offseq::batch_header bh(std::int64_t pid, std::int16_t epoch, std::int32_t first, std::int32_t last) {
  offseq::batch_header b{pid, epoch, first, last};
  return b;
}
constexpr std::int64_t two48 = std::int64_t{1} << 48;
}  // namespace

TEST_SUITE("contract") {
// ------------------------------------------------------------------ status
TEST_CASE("C Status: to_string gives the stable lowercase names, never null") {
  for (std::size_t i = 0; i < sizeof all_status / sizeof all_status[0]; ++i) {
    const char* s = offseq::to_string(all_status[i]);
    REQUIRE(s != nullptr);
    CHECK(std::strcmp(s, all_status_names[i]) == 0);
  }
  // never null, even for a value outside the enumerators
  CHECK(offseq::to_string(static_cast<status>(200)) != nullptr);
}

TEST_CASE("C Transactions: to_string(txn_state) never null, distinct per state") {
  std::vector<const char*> names;
  for (int i = 0; i < 8; ++i) {
    const char* s = offseq::to_string(static_cast<txn_state>(i));
    REQUIRE(s != nullptr);
    CHECK(std::strlen(s) > 0);
    for (const char* n : names) CHECK(std::strcmp(n, s) != 0);
    names.push_back(s);
  }
  CHECK(offseq::to_string(static_cast<txn_state>(99)) != nullptr);
}

// ------------------------------------------------------------------ commit tracker
TEST_CASE("C commit_tracker: static and stack objects; never-restored partition starts at 0") {
  tracker t;
  for (std::size_t p = 0; p < 4; ++p) {
    CHECK(t.committed(p) == 0);
    CHECK(static_tracker.committed(p) == 0);
    CHECK_FALSE(t.is_completed(p, 0));
  }
}

TEST_CASE("C commit_tracker: generation 0 is never current; commit before any assign is fenced") {
  tracker t;
  CHECK(t.commit(0, 1, 0) == status::fenced);
  CHECK(t.complete(0, 0, 0) == status::fenced);
  CHECK(t.complete_range(0, 0, 3, 0) == status::fenced);
  CHECK(t.commit(0, 1, 1) == status::fenced);  // no generation at all is current yet
  const tracker::generation g = t.assign(0);
  CHECK(g != 0);
  CHECK(t.commit(0, 1, 0) == status::fenced);
  CHECK(t.committed(0) == 0);
  CHECK(t.commit(0, 1, g) == status::ok);
  CHECK(t.committed(0) == 1);
}

TEST_CASE("C commit_tracker: out-of-range partition: committed -1, is_completed false, assign 0") {
  tracker t;
  CHECK(t.committed(4) == -1);
  CHECK(t.committed(SIZE_MAX) == -1);
  CHECK_FALSE(t.is_completed(4, 0));
  CHECK_FALSE(t.is_completed(4, -1));
  CHECK(t.assign(4) == 0);
  CHECK(t.assign(SIZE_MAX) == 0);
  t.revoke(4);  // must be harmless
  CHECK(t.reset(4, 0) == status::invalid_argument);
  t.restore(4, 10);  // void: must be harmless
  for (std::size_t p = 0; p < 4; ++p) CHECK(t.committed(p) == 0);
}

TEST_CASE("C commit_tracker: check order invalid_argument -> fenced -> stale -> window_full") {
  tracker t;
  const auto g = t.assign(0);
  const auto bad = static_cast<tracker::generation>(g + 1000);
  // invalid_argument beats fenced
  CHECK(t.commit(4, 1, bad) == status::invalid_argument);
  CHECK(t.commit(0, -1, bad) == status::invalid_argument);
  CHECK(t.complete(4, 0, bad) == status::invalid_argument);
  CHECK(t.complete(0, -1, bad) == status::invalid_argument);
  CHECK(t.complete_range(4, 0, 1, bad) == status::invalid_argument);
  CHECK(t.complete_range(0, -1, 1, bad) == status::invalid_argument);
  CHECK(t.complete_range(0, 5, 3, bad) == status::invalid_argument);  // end < first
  // fenced beats stale and window_full
  REQUIRE(t.commit(0, 10, g) == status::ok);
  CHECK(t.commit(0, 5, bad) == status::fenced);
  CHECK(t.complete(0, 3, bad) == status::fenced);
  CHECK(t.complete(0, 10 + 64, bad) == status::fenced);
  CHECK(t.complete_range(0, 12, 12 + 200, bad) == status::fenced);
  CHECK(t.complete_range(0, 20, 20, bad) == status::fenced);  // empty range: fenced first
  // stale, then window_full
  CHECK(t.commit(0, 10, g) == status::stale);
  CHECK(t.complete(0, 9, g) == status::stale);
  CHECK(t.complete(0, 10 + 64, g) == status::window_full);
  CHECK(t.committed(0) == 10);
}

TEST_CASE("C commit_tracker / S1.2: commit rises or is stale; monotonic except reset") {
  tracker t;
  const auto g = t.assign(1);
  CHECK(t.commit(1, 100, g) == status::ok);
  CHECK(t.committed(1) == 100);
  CHECK(t.commit(1, 60, g) == status::stale);  // Kafka's last-write-wins rewind refused
  CHECK(t.commit(1, 100, g) == status::stale);
  CHECK(t.committed(1) == 100);
  CHECK(t.is_completed(1, 0));
  CHECK(t.is_completed(1, 99));
  CHECK_FALSE(t.is_completed(1, 100));
  // a commit far beyond the window is fine: commit is not bounded by Window
  CHECK(t.commit(1, 100000, g) == status::ok);
  CHECK(t.committed(1) == 100000);
  // the only way back
  CHECK(t.reset(1, 50) == status::ok);
  CHECK(t.committed(1) == 50);
}

TEST_CASE("C commit_tracker: commit advances over completions at and above next; keeps those above") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.complete(0, 5, g) == status::ok);
  CHECK(t.complete(0, 6, g) == status::ok);
  CHECK(t.complete(0, 9, g) == status::ok);
  CHECK(t.committed(0) == 0);
  CHECK(t.commit(0, 5, g) == status::ok);
  CHECK(t.committed(0) == 7);
  CHECK_FALSE(t.is_completed(0, 7));
  CHECK(t.is_completed(0, 9));
  CHECK(t.complete(0, 7, g) == status::ok);
  CHECK(t.committed(0) == 8);
  CHECK(t.complete(0, 8, g) == status::ok);
  CHECK(t.committed(0) == 10);
}

TEST_CASE("C commit_tracker / S1.3 S1.5: complete out of order, window bound, re-complete ok") {
  tracker t;
  const auto g = t.assign(2);
  CHECK(t.complete(2, 63, g) == status::ok);  // committed + Window - 1 fits
  CHECK(t.complete(2, 64, g) == status::window_full);
  CHECK_FALSE(t.is_completed(2, 64));
  CHECK(t.complete(2, 63, g) == status::ok);  // already completed: ok
  for (std::int64_t o = 62; o >= 1; --o) CHECK(t.complete(2, o, g) == status::ok);
  CHECK(t.committed(2) == 0);
  CHECK(t.is_completed(2, 1));
  CHECK_FALSE(t.is_completed(2, 0));
  CHECK(t.complete(2, 0, g) == status::ok);
  CHECK(t.committed(2) == 64);  // S1.3: by the time the last complete returns
  CHECK(t.complete(2, 63, g) == status::stale);
  CHECK(t.complete(2, 64 + 63, g) == status::ok);
  CHECK(t.complete(2, 64 + 64, g) == status::window_full);
}

TEST_CASE("C commit_tracker / S1.6: complete_range") {
  tracker t;
  const auto g = t.assign(3);
  REQUIRE(t.commit(3, 10, g) == status::ok);
  // starting at or below committed acts like commit(p, end, g)
  CHECK(t.complete_range(3, 5, 8, g) == status::stale);
  CHECK(t.complete_range(3, 5, 10, g) == status::stale);
  CHECK(t.committed(3) == 10);
  CHECK(t.complete_range(3, 5, 20, g) == status::ok);
  CHECK(t.committed(3) == 20);
  CHECK(t.complete_range(3, 20, 500, g) == status::ok);  // at the floor: no window limit, like commit
  CHECK(t.committed(3) == 500);
  // above the floor it must fit: end <= committed + Window
  CHECK(t.complete_range(3, 501, 500 + 64 + 1, g) == status::window_full);
  CHECK_FALSE(t.is_completed(3, 501));
  CHECK(t.complete_range(3, 501, 500 + 64, g) == status::ok);
  CHECK(t.committed(3) == 500);
  CHECK(t.is_completed(3, 501));
  CHECK(t.is_completed(3, 563));
  CHECK(t.complete(3, 500, g) == status::ok);
  CHECK(t.committed(3) == 564);
  // end < first invalid; empty range stale (above, at and below the floor)
  CHECK(t.complete_range(3, 600, 599, g) == status::invalid_argument);
  CHECK(t.complete_range(3, 600, 600, g) == status::stale);
  CHECK(t.complete_range(3, 564, 564, g) == status::stale);
  CHECK(t.complete_range(3, 10, 10, g) == status::stale);
  CHECK(t.committed(3) == 564);
  // a range filling a gap between completions: the floor passes all of it
  CHECK(t.complete(3, 570, g) == status::ok);
  CHECK(t.complete_range(3, 565, 570, g) == status::ok);
  CHECK(t.committed(3) == 564);
  CHECK(t.complete(3, 564, g) == status::ok);
  CHECK(t.committed(3) == 571);
}

TEST_CASE("C commit_tracker / S1.4: assign fences older generations; earlier completions stay valid") {
  tracker t;
  const auto g1 = t.assign(0);
  CHECK(t.complete(0, 3, g1) == status::ok);
  const auto g2 = t.assign(0);
  CHECK(g2 != g1);
  CHECK(g2 != 0);
  CHECK(t.complete(0, 0, g1) == status::fenced);
  CHECK(t.commit(0, 2, g1) == status::fenced);
  CHECK(t.complete_range(0, 0, 3, g1) == status::fenced);
  CHECK(t.committed(0) == 0);
  CHECK(t.is_completed(0, 3));  // recorded before the assign: still valid
  CHECK(t.complete_range(0, 0, 3, g2) == status::ok);
  CHECK(t.committed(0) == 4);
}

TEST_CASE("C commit_tracker: revoke fences every owner; a later assign works") {
  tracker t;
  const auto g1 = t.assign(1);
  t.revoke(1);
  CHECK(t.commit(1, 5, g1) == status::fenced);
  CHECK(t.complete(1, 0, g1) == status::fenced);
  CHECK(t.committed(1) == 0);
  const auto g2 = t.assign(1);
  CHECK(g2 != 0);
  CHECK(g2 != g1);
  CHECK(t.commit(1, 5, g2) == status::ok);
  // other partitions untouched by revoke
  const auto g0 = t.assign(0);
  t.revoke(1);
  CHECK(t.commit(0, 1, g0) == status::ok);
}

TEST_CASE("C commit_tracker: generations are per partition") {
  tracker t;
  const auto g0 = t.assign(0);
  const auto g1 = t.assign(1);
  (void)t.assign(1);
  CHECK(t.commit(0, 1, g0) == status::ok);  // assigning p1 does not fence p0
  CHECK(t.commit(1, 1, g1) == status::fenced);
}

TEST_CASE("C commit_tracker: restore loads a position, clears completions, is not a drain change") {
  tracker t;
  auto g = t.assign(0);
  CHECK(t.complete(0, 5, g) == status::ok);
  (void)drain_all(t);
  t.restore(0, 1000);
  CHECK(t.committed(0) == 1000);
  CHECK(t.is_completed(0, 999));
  CHECK_FALSE(t.is_completed(0, 1000));
  CHECK(drain_all(t).empty());  // restore does not count as a change
  g = t.assign(0);
  CHECK(t.complete(0, 1001, g) == status::ok);
  t.restore(0, 1000);
  CHECK_FALSE(t.is_completed(0, 1001));  // cleared
  g = t.assign(0);
  CHECK(t.complete(0, 1000, g) == status::ok);
  CHECK(t.committed(0) == 1001);
}

TEST_CASE("C commit_tracker: reset rewinds, clears completions, counts as a change; bad input") {
  tracker t;
  const auto g = t.assign(2);
  CHECK(t.commit(2, 100, g) == status::ok);
  CHECK(t.complete(2, 105, g) == status::ok);
  (void)drain_all(t);
  CHECK(t.reset(2, -1) == status::invalid_argument);
  CHECK(t.committed(2) == 100);
  CHECK(t.is_completed(2, 105));
  CHECK(t.reset(2, 100) == status::ok);
  CHECK_FALSE(t.is_completed(2, 105));
  CHECK(t.reset(2, 40) == status::ok);
  CHECK(t.committed(2) == 40);
  CHECK(drain_all(t) == drained_list{{2, 40}});
  // the current owner carries on from the rewound position
  CHECK(t.commit(2, 41, g) == status::ok);
  CHECK(t.committed(2) == 41);
}

TEST_CASE("C commit_tracker / S1.8: drain coalesces, false keeps pending, void always succeeds") {
  tracker t;
  const auto g0 = t.assign(0);
  const auto g3 = t.assign(3);
  CHECK(drain_all(t).empty());
  CHECK(t.commit(0, 5, g0) == status::ok);
  CHECK(t.commit(0, 7, g0) == status::ok);
  CHECK(t.complete(3, 0, g3) == status::ok);
  CHECK(t.complete(3, 2, g3) == status::ok);  // no position change on its own
  CHECK(drain_all(t) == drained_list{{0, 7}, {3, 1}});
  CHECK(drain_all(t).empty());
  // a sink returning false keeps the partition pending
  CHECK(t.commit(0, 9, g0) == status::ok);
  int calls = 0;
  t.drain([&](std::size_t p, std::int64_t pos) {
    ++calls;
    CHECK(p == 0);
    CHECK(pos == 9);
    return false;
  });
  CHECK(calls == 1);
  CHECK(t.commit(0, 11, g0) == status::ok);
  CHECK(drain_all(t) == drained_list{{0, 11}});  // still pending, latest position
  // a bool sink returning true clears it
  CHECK(t.commit(0, 12, g0) == status::ok);
  calls = 0;
  t.drain([&](std::size_t, std::int64_t) {
    ++calls;
    return true;
  });
  CHECK(calls == 1);
  CHECK(drain_all(t).empty());
  // stale, fenced and window_full calls are not changes
  CHECK(t.commit(0, 3, g0) == status::stale);
  CHECK(t.commit(0, 30, g0 + 1) == status::fenced);
  CHECK(drain_all(t).empty());
}

TEST_CASE("C commit_tracker: drain accepts a generic sink and an lvalue sink") {
  tracker t;
  const auto g = t.assign(1);
  CHECK(t.commit(1, 3, g) == status::ok);
  std::int64_t seen = -1;
  auto sink = [&](auto p, auto pos) {
    CHECK(p == 1u);
    seen = pos;
    return true;
  };
  t.drain(sink);
  CHECK(seen == 3);
}

TEST_CASE("C commit_tracker Ranges: positions up to 2^48 - 1, no overflow beyond") {
  tracker t;
  t.restore(0, two48 - 10);
  const auto g = t.assign(0);
  CHECK(t.committed(0) == two48 - 10);
  CHECK(t.complete(0, two48 - 2, g) == status::ok);
  CHECK(t.complete_range(0, two48 - 10, two48 - 2, g) == status::ok);
  CHECK(t.committed(0) == two48 - 1);
  CHECK(t.is_completed(0, two48 - 2));
  // input beyond the documented limit is invalid_argument, never an overflow (UBSan watches)
  for (const std::int64_t huge : {INT64_MAX, INT64_MAX - 1, INT64_MAX - 63}) {
    const status c = t.commit(0, huge, g);
    CHECK((c == status::ok || c == status::invalid_argument));
    if (c != status::ok) CHECK(t.committed(0) == two48 - 1);
    const status k = t.complete(0, huge, g);
    CHECK((k == status::invalid_argument || k == status::window_full || k == status::stale));
    const status r = t.complete_range(0, huge - 1, huge, g);
    CHECK((r == status::invalid_argument || r == status::window_full || r == status::stale || r == status::ok));
    CHECK_FALSE(t.is_completed(1, huge));
  }
  tracker u;
  const auto gu = u.assign(1);
  CHECK(u.complete(1, INT64_MAX, gu) != status::ok);
  CHECK(u.complete_range(1, 0, INT64_MAX, gu) != status::stale);
  CHECK(u.reset(1, INT64_MAX) != status::stale);
}

TEST_CASE("C commit_tracker Ranges: the documented limits (README: positions < 2^48) are enforced") {
  // README "Ranges", atomic_sync: positions 0 .. 2^48 - 1, offsets 0 .. 2^48 - 2.
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.commit(0, two48, g) == status::invalid_argument);
  CHECK(t.complete(0, two48 - 1, g) == status::invalid_argument);  // before window_full (check order)
  CHECK(t.complete_range(0, 0, two48, g) == status::invalid_argument);
  CHECK(t.reset(0, two48) == status::invalid_argument);
  CHECK(t.committed(0) == 0);
  CHECK(t.reset(0, two48 - 1) == status::ok);
  CHECK(t.committed(0) == two48 - 1);
}

TEST_CASE("C commit_tracker: is_completed is true for every o < committed(p)") {
  tracker t;
  const auto g = t.assign(0);
  REQUIRE(t.commit(0, 5, g) == status::ok);
  for (std::int64_t o = 0; o < 5; ++o) CHECK(t.is_completed(0, o));
  CHECK(t.is_completed(0, -1));  // "every o", negative ones included
  tracker fresh;
  CHECK(fresh.is_completed(0, -1));  // committed 0: -1 is below it too
  CHECK_FALSE(fresh.is_completed(0, 0));
}

TEST_CASE("C commit_tracker Ranges: at least 2^16 distinct generations before a wrap") {
  tracker t;
  std::vector<tracker::generation> gens;
  gens.reserve(65536);
  for (int i = 0; i < 65536; ++i) gens.push_back(t.assign(0));
  const auto last = gens.back();
  CHECK(std::find(gens.begin(), gens.end(), tracker::generation{0}) == gens.end());
  std::sort(gens.begin(), gens.end());
  CHECK(std::unique(gens.begin(), gens.end()) == gens.end());
  CHECK(t.commit(0, 1, gens.front() == last ? gens.back() : gens.front()) == status::fenced);
  CHECK(t.commit(0, 1, last) == status::ok);
}

TEST_CASE("C commit_tracker: Window is any template argument; window_full at committed + Window") {
  offseq::commit_tracker<3, 10> a;
  auto g = a.assign(2);
  CHECK(a.complete(2, 9, g) == status::ok);
  CHECK(a.complete(2, 10, g) == status::window_full);
  CHECK(a.complete_range(2, 1, 10, g) == status::ok);
  CHECK(a.complete_range(2, 5, 11, g) == status::window_full);
  CHECK(a.complete(2, 0, g) == status::ok);
  CHECK(a.committed(2) == 10);
  offseq::commit_tracker<1, 1000> b;
  g = b.assign(0);
  CHECK(b.complete(0, 999, g) == status::ok);
  CHECK(b.complete(0, 1000, g) == status::window_full);
  CHECK(b.complete_range(0, 1, 999, g) == status::ok);
  CHECK(b.complete(0, 0, g) == status::ok);
  CHECK(b.committed(0) == 1000);
  CHECK(b.committed(1) == -1);
  offseq::commit_tracker<2, 1> c;
  g = c.assign(1);
  CHECK(c.complete(1, 1, g) == status::window_full);
  CHECK(c.complete(1, 0, g) == status::ok);
  CHECK(c.committed(1) == 1);
}

TEST_CASE("C commit_tracker: reset to the current position still counts as a change") {
  tracker t;
  t.restore(1, 30);
  CHECK(drain_all(t).empty());
  CHECK(t.reset(1, 30) == status::ok);
  CHECK(drain_all(t) == drained_list{{1, 30}});
}

TEST_CASE("C commit_tracker: a call that is not ok changes nothing") {
  tracker t;
  const auto g = t.assign(0);
  CHECK(t.commit(0, 4, g) == status::ok);
  CHECK(t.complete(0, 6, g) == status::ok);
  (void)drain_all(t);
  CHECK(t.complete(0, 4 + 64, g) == status::window_full);
  CHECK(t.complete_range(0, 10, 4 + 65, g) == status::window_full);
  CHECK(t.complete(0, 3, g) == status::stale);
  CHECK(t.complete(0, 5, g + 7) == status::fenced);
  CHECK(t.complete_range(0, 9, 7, g) == status::invalid_argument);
  CHECK(t.committed(0) == 4);
  CHECK(t.is_completed(0, 6));
  for (std::int64_t o = 7; o < 4 + 70; ++o) CHECK_FALSE(t.is_completed(0, o));
  CHECK(drain_all(t).empty());
}

TEST_CASE("C commit_tracker Sync: critical_section_sync<Guard> behaves the same") {
  cs_tracker t;
  const auto g = t.assign(1);
  CHECK(g != 0);
  CHECK(t.complete(1, 1, g) == status::ok);
  CHECK(t.complete(1, 0, g) == status::ok);
  CHECK(t.committed(1) == 2);
  CHECK(t.complete(1, 2 + 64, g) == status::window_full);
  CHECK(t.commit(1, 1, g) == status::stale);
  CHECK(t.complete_range(1, 2, 10, g) == status::ok);
  CHECK(t.committed(1) == 10);
  CHECK(t.assign(2) == 0);
  CHECK(t.committed(2) == -1);
  CHECK(drain_all(t) == drained_list{{1, 10}});
  CHECK(t.reset(1, 0) == status::ok);
  CHECK(t.committed(1) == 0);
}

template <class T>
void concurrent_workers() {
  // S1.1 S1.3 + C Ordering: 4 workers complete interleaved offsets out of order (re-queueing on
  // window_full, as the contract asks); a reader checks that everything below committed(p) is
  // visible (written before the complete that covered it) and that committed never exceeds the
  // smallest unreported offset.
  constexpr std::int64_t n = 20000;
  constexpr int workers = 4;
  static std::int64_t payload[n];
  static std::atomic<bool> reported[n];
  for (std::int64_t i = 0; i < n; ++i) {
    payload[i] = 0;
    reported[i].store(false);
  }
  T t;
  const auto g = t.assign(0);
  std::atomic<bool> done{false};
  std::atomic<int> violations{0};
  std::thread reader([&] {
    std::int64_t last = 0;
    while (!done.load(std::memory_order_acquire)) {
      const std::int64_t c = t.committed(0);
      if (c < last) violations.fetch_add(1);  // S1.2 monotonic
      for (std::int64_t i = last; i < c && i < n; ++i)
        if (payload[i] != i + 1 || !reported[i].load(std::memory_order_relaxed)) violations.fetch_add(1);
      last = c;
    }
  });
  // C drain: may run concurrently; a drained position carries the committed() guarantee
  std::int64_t last_drained = 0;
  std::thread drainer([&] {
    while (!done.load(std::memory_order_acquire)) {
      t.drain([&](std::size_t p, std::int64_t pos) {
        if (p != 0 || pos < last_drained) violations.fetch_add(1);
        for (std::int64_t i = last_drained; i < pos && i < n; ++i)
          if (payload[i] != i + 1) violations.fetch_add(1);
        last_drained = pos;
        return true;
      });
    }
  });
  std::vector<std::thread> ws;
  for (int w = 0; w < workers; ++w)
    ws.emplace_back([&, w] {
      for (std::int64_t o = w; o < n; o += workers) {
        payload[o] = o + 1;
        reported[o].store(true, std::memory_order_relaxed);
        status s;
        while ((s = t.complete(0, o, g)) == status::window_full) std::this_thread::yield();
        if (s != status::ok) violations.fetch_add(1);
      }
    });
  for (auto& w : ws) w.join();
  done.store(true, std::memory_order_release);
  reader.join();
  drainer.join();
  CHECK(violations.load() == 0);
  CHECK(t.committed(0) == n);
  const drained_list rest = drain_all(t);
  CHECK((rest == drained_list{{0, n}} || (rest.empty() && last_drained == n)));
}

TEST_CASE("C commit_tracker Ordering / S1.1 S1.3: concurrent workers, atomic_sync") { concurrent_workers<tracker>(); }
TEST_CASE("C commit_tracker Ordering / S1.1 S1.3: concurrent workers, critical_section_sync") {
  concurrent_workers<cs_tracker>();
}

TEST_CASE("C commit_tracker Ordering: an assign racing workers fences them from its return on") {
  tracker t;
  const auto g1 = t.assign(0);
  std::atomic<bool> assigned{false};
  std::atomic<int> late_ok{0};
  std::thread w([&] {
    for (std::int64_t o = 0; o < 200000; ++o) {
      const bool after = assigned.load(std::memory_order_acquire);
      const status s = t.commit(0, o + 1, g1);
      if (after && s == status::ok) late_ok.fetch_add(1);
      if (s == status::fenced) break;
    }
  });
  std::this_thread::yield();
  (void)t.assign(0);
  assigned.store(true, std::memory_order_release);
  w.join();
  CHECK(late_ok.load() == 0);
  CHECK(t.commit(0, t.committed(0) + 1, g1) == status::fenced);
}

// ------------------------------------------------------------------ sequence table
TEST_CASE("C sequence_table: static and stack objects start empty") {
  table t;
  CHECK(t.size() == 0);
  CHECK(static_table.size() == 0);
}

TEST_CASE("C sequence_table / S2.1: negative fields or base_offset are invalid_argument") {
  table t;
  const offseq::batch_header bad[] = {bh(-1, 0, 0, 0), bh(1, -1, 0, 0), bh(1, 0, -1, 0), bh(1, 0, 0, -1)};
  for (const auto& b : bad) {
    CHECK(t.check(b).code == status::invalid_argument);
    CHECK(t.record(b, 0, 0) == status::invalid_argument);
    CHECK(t.admit(b, 0, 0).code == status::invalid_argument);
  }
  CHECK(t.record(bh(1, 0, 0, 0), -1, 0) == status::invalid_argument);
  CHECK(t.admit(bh(1, 0, 0, 0), -1, 0).code == status::invalid_argument);
  CHECK(t.size() == 0);
  // invalid_argument comes first, even for a known producer
  REQUIRE(t.admit(bh(1, 0, 0, 0), 10, 0).code == status::ok);
  CHECK(t.admit(bh(1, 0, 0, 0), -5, 0).code == status::invalid_argument);
  CHECK(t.admit(bh(1, -1, 1, 1), 11, 0).code == status::invalid_argument);
}

TEST_CASE("C sequence_table / S2.2: an unknown producer is ok at any first_seq; check is pure") {
  table t;
  const auto v = t.check(bh(7, 3, 1234, 1240));
  CHECK(v.code == status::ok);
  CHECK(t.size() == 0);  // check recorded nothing
  CHECK(t.admit(bh(7, 3, 1234, 1240), 0, 5).code == status::ok);
  CHECK(t.size() == 1);
  CHECK(t.admit(bh(7, 3, 1241, 1241), 1, 5).code == status::ok);
  CHECK(t.record(bh(8, 0, 0, 4), 2, 5) == status::ok);
  CHECK(t.size() == 2);
}

TEST_CASE("C sequence_table / S2.3 S2.4: older epoch fenced; newer epoch needs first_seq 0, clears history") {
  table t;
  REQUIRE(t.admit(bh(1, 2, 0, 4), 100, 0).code == status::ok);
  REQUIRE(t.admit(bh(1, 2, 5, 9), 200, 0).code == status::ok);
  CHECK(t.admit(bh(1, 1, 10, 10), 300, 0).code == status::fenced);
  CHECK(t.admit(bh(1, 1, 0, 4), 300, 0).code == status::fenced);  // fenced before duplicate
  const auto v = t.admit(bh(1, 3, 10, 12), 300, 0);
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 0);
  CHECK(t.check(bh(1, 3, 5, 9)).code == status::out_of_order);
  CHECK(t.admit(bh(1, 3, 0, 9), 400, 0).code == status::ok);
  // history cleared: the old epoch's (5, 9) is no longer a duplicate at the new epoch
  const auto w = t.check(bh(1, 3, 5, 9));
  CHECK(w.code == status::out_of_order);
  CHECK(w.expected_seq == 10);
  CHECK(t.check(bh(1, 2, 5, 9)).code == status::fenced);
  CHECK(t.size() == 1);
}

TEST_CASE("C sequence_table / S2.5: exact retained batch is duplicate with its base offset; History deep") {
  table t;  // History = 5
  for (std::int32_t i = 0; i < 6; ++i)
    REQUIRE(t.admit(bh(1, 0, i * 10, i * 10 + 9), 1000 + i, 0).code == status::ok);
  for (std::int32_t i = 1; i < 6; ++i) {
    const auto v = t.admit(bh(1, 0, i * 10, i * 10 + 9), 5, 0);
    CHECK(v.code == status::duplicate);
    CHECK(v.offset == 1000 + i);
    CHECK(t.check(bh(1, 0, i * 10, i * 10 + 9)).offset == 1000 + i);
    CHECK(t.record(bh(1, 0, i * 10, i * 10 + 9), 5, 0) == status::duplicate);
  }
  // the oldest one fell out of History: older than the retained ones
  const auto old = t.check(bh(1, 0, 0, 9));
  CHECK(old.code == status::out_of_order);
  CHECK(old.expected_seq == 60);
  // partial overlap with a retained batch
  CHECK(t.check(bh(1, 0, 50, 55)).code == status::out_of_order);
  CHECK(t.check(bh(1, 0, 55, 65)).code == status::out_of_order);
  // a duplicate changed nothing: the next in-order batch is still 60
  CHECK(t.admit(bh(1, 0, 60, 60), 2000, 0).code == status::ok);
}

TEST_CASE("C sequence_table / S2.6 S2.7: next sequence, gaps, wrap after INT32_MAX") {
  table t;
  REQUIRE(t.admit(bh(2, 0, 0, 0), 0, 0).code == status::ok);
  auto v = t.admit(bh(2, 0, 2, 3), 1, 0);  // gap
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 1);
  CHECK(t.record(bh(2, 0, 2, 3), 1, 0) == status::out_of_order);
  CHECK(t.admit(bh(2, 0, 1, 3), 1, 0).code == status::ok);
  // a batch that itself wraps: last_seq < first_seq
  REQUIRE(t.admit(bh(3, 0, INT32_MAX - 1, 1), 10, 0).code == status::ok);
  v = t.admit(bh(3, 0, 3, 3), 11, 0);
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 2);
  CHECK(t.admit(bh(3, 0, 2, 2), 11, 0).code == status::ok);
  // last == INT32_MAX: next is 0, and expected_seq wraps to 0
  REQUIRE(t.admit(bh(4, 0, INT32_MAX - 3, INT32_MAX), 20, 0).code == status::ok);
  v = t.admit(bh(4, 0, 5, 6), 21, 0);
  CHECK(v.code == status::out_of_order);
  CHECK(v.expected_seq == 0);
  CHECK(t.admit(bh(4, 0, 0, 9), 21, 0).code == status::ok);
  CHECK(t.admit(bh(4, 0, INT32_MAX - 3, INT32_MAX), 20, 0).code == status::duplicate);
}

TEST_CASE("C sequence_table / S2.8: expire drops idle producers; duplicates are not activity") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 0, 0), 0, 1000).code == status::ok);
  REQUIRE(t.admit(bh(2, 0, 0, 0), 1, 1500).code == status::ok);
  CHECK(t.admit(bh(1, 0, 0, 0), 0, 1900).code == status::duplicate);
  (void)t.expire(1999, 1000);  // 1999 - 1000 < 1000: nothing
  CHECK(t.size() == 2);
  (void)t.expire(500, 0);  // now earlier than last_seen: none, even with idle_ms 0
  CHECK(t.size() == 2);
  (void)t.expire(2000, 1000);  // producer 1: 2000 - 1000 >= 1000 (the duplicate at 1900 did not refresh)
  CHECK(t.size() == 1);
  // expired -> unknown -> any first_seq ok (S2.2)
  CHECK(t.check(bh(1, 0, 77, 77)).code == status::ok);
  CHECK(t.check(bh(2, 0, 77, 77)).code == status::out_of_order);
  (void)t.expire(2500, 1000);
  CHECK(t.size() == 0);
}

TEST_CASE("C sequence_table / S2.9: a new producer on a full table is table_full; nothing expires by itself") {
  offseq::sequence_table<2> t;
  REQUIRE(t.admit(bh(1, 0, 0, 0), 0, 0).code == status::ok);
  REQUIRE(t.admit(bh(2, 0, 0, 0), 1, 0).code == status::ok);
  CHECK(t.check(bh(3, 0, 0, 0)).code == status::table_full);
  CHECK(t.admit(bh(3, 0, 0, 0), 2, 1000000000).code == status::table_full);
  CHECK(t.record(bh(3, 0, 0, 0), 2, 1000000000) == status::table_full);
  CHECK(t.size() == 2);
  // known producers still work
  CHECK(t.admit(bh(1, 0, 1, 1), 3, 0).code == status::ok);
  (void)t.expire(1000000000, 1000);
  CHECK(t.size() == 0);
  CHECK(t.admit(bh(3, 0, 0, 0), 2, 1000000000).code == status::ok);
}

TEST_CASE("C sequence_table: History is a template argument (dedup depth)") {
  offseq::sequence_table<3, 1> one;
  REQUIRE(one.admit(bh(1, 0, 0, 0), 10, 0).code == status::ok);
  REQUIRE(one.admit(bh(1, 0, 1, 1), 11, 0).code == status::ok);
  CHECK(one.check(bh(1, 0, 1, 1)).code == status::duplicate);
  CHECK(one.check(bh(1, 0, 0, 0)).code == status::out_of_order);
  offseq::sequence_table<3, 7> seven;
  for (std::int32_t i = 0; i < 8; ++i) REQUIRE(seven.admit(bh(1, 0, i, i), 100 + i, 0).code == status::ok);
  for (std::int32_t i = 1; i < 8; ++i) CHECK(seven.check(bh(1, 0, i, i)).offset == 100 + i);
  CHECK(seven.check(bh(1, 0, 0, 0)).code == status::out_of_order);
  // Producers: exactly that many
  for (std::int64_t pid = 0; pid < 3; ++pid) CHECK(seven.admit(bh(pid + 10, 0, 0, 0), 0, 0).code == (pid < 2 ? status::ok : status::table_full));
}

TEST_CASE("S2.4 before S2.5: a newer epoch at sequence 0 is ok even if (first, last) is retained") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 0, 4), 10, 0).code == status::ok);
  CHECK(t.admit(bh(1, 1, 0, 4), 20, 0).code == status::ok);
  const auto d = t.check(bh(1, 1, 0, 4));
  CHECK(d.code == status::duplicate);
  CHECK(d.offset == 20);
}

TEST_CASE("S2.2 strict option (README: sequence_table<N, H, true>): a new producer must start at 0") {
  offseq::sequence_table<4, 5, true> t;
  CHECK(t.check(bh(1, 0, 5, 5)).code == status::unknown_producer);
  CHECK(t.admit(bh(1, 0, 5, 5), 0, 0).code == status::unknown_producer);
  CHECK(t.size() == 0);
  CHECK(t.admit(bh(1, 0, 0, 5), 0, 0).code == status::ok);
  CHECK(t.check(bh(-1, 0, 5, 5)).code == status::invalid_argument);  // S2.1 first
}

TEST_CASE("S2.8: the transaction side can protect producers from expiry (README keep-predicate)") {
  table t;
  REQUIRE(t.admit(bh(1, 0, 0, 0), 0, 0).code == status::ok);
  REQUIRE(t.admit(bh(2, 0, 0, 0), 1, 0).code == status::ok);
  (void)t.expire(100000, 10, [](std::int64_t pid) { return pid == 2; });
  CHECK(t.size() == 1);
  CHECK(t.check(bh(2, 0, 5, 5)).code == status::out_of_order);  // kept: still known
  CHECK(t.check(bh(1, 0, 5, 5)).code == status::ok);            // expired: unknown
}

TEST_CASE("C sequence_table: record applies check's rules and changes nothing unless they pass") {
  table t;
  REQUIRE(t.record(bh(1, 5, 0, 0), 0, 0) == status::ok);
  CHECK(t.record(bh(1, 4, 1, 1), 1, 0) == status::fenced);
  CHECK(t.record(bh(1, 6, 1, 1), 1, 0) == status::out_of_order);
  CHECK(t.record(bh(1, 5, 3, 3), 1, 0) == status::out_of_order);
  CHECK(t.record(bh(1, 5, 0, 0), 9, 0) == status::duplicate);
  CHECK(t.check(bh(1, 5, 0, 0)).offset == 0);  // the duplicate did not overwrite the base offset
  CHECK(t.check(bh(1, 5, 1, 1)).code == status::ok);
  CHECK(t.size() == 1);
}
}  // TEST_SUITE

// ==================================================================== transactions, txn_index
// CONTRACT.md leaves these signatures to the implementer ("documented in the header and
// README"), so the calls below follow README.md; the rules checked are SEMANTICS.md §3 and §4.
namespace {
constexpr std::size_t txn_p = 4, txn_o = 2, txn_l = 16;
using txn_record = offseq::txn_log_record<txn_p, txn_o, txn_l>;

struct test_hooks {  // README "Hooks": the three CONTRACT hooks plus the optional apply_offset
  std::vector<txn_record> log;
  std::vector<offseq::txn_marker> markers;
  std::vector<std::pair<std::uint32_t, std::int64_t>> applied;
  std::int64_t next_pid = 1000;
  bool fail_log = false;
  offseq::commit_tracker<8>* tracker = nullptr;  // S3.8: offsets materialise into the tracker
  offseq::commit_tracker<8>::generation gen = 0;
  offseq::status log_append(const txn_record& r) noexcept {
    if (fail_log) return offseq::status::io_error;
    log.push_back(r);
    return offseq::status::ok;
  }
  offseq::status send_marker(const offseq::txn_marker& m) noexcept {
    markers.push_back(m);
    return offseq::status::ok;
  }
  offseq::status allocate_producer_id(std::int64_t& out) noexcept {
    out = next_pid++;
    return offseq::status::ok;
  }
  offseq::status apply_offset(std::uint32_t gp, std::int64_t next) noexcept {
    applied.emplace_back(gp, next);
    if (tracker != nullptr) return tracker->commit(gp, next, gen);
    return offseq::status::ok;
  }
};
using coordinator = offseq::txn_coordinator<4, txn_p, txn_o, txn_l, test_hooks>;
static_assert(sizeof(coordinator) > 0, "sizeof is a compile-time constant");

// C Shape: "Every operation below is noexcept" — the named coordinator and index operations.
template <class C, class I>
constexpr bool txn_noexcept() {
  C* c = nullptr;
  const C* cc = nullptr;
  I* i = nullptr;
  const I* ci = nullptr;
  const std::uint32_t* parts = nullptr;
  const offseq::txn_marker* m = nullptr;
  const typename C::log_record* r = nullptr;
  static_assert(noexcept(c->init_producer_id("a", 1u, 0u)), "init_producer_id noexcept");
  static_assert(noexcept(c->add_partitions("a", 0, 0, parts, 0, 0u)), "add_partitions noexcept");
  static_assert(noexcept(c->add_offsets("a", 0, 0, 0u, 0, 0u)), "add_offsets noexcept");
  static_assert(noexcept(c->end_txn("a", 0, 0, offseq::txn_result::commit, 0u)), "end_txn noexcept");
  static_assert(noexcept(c->on_markers_written(*m, 0u)), "on_markers_written noexcept");
  static_assert(noexcept(c->poll(0u)), "poll noexcept");
  static_assert(noexcept(cc->state("a")), "state noexcept");
  static_assert(noexcept(c->recover(r, 0, 0u)), "recover noexcept");
  static_assert(noexcept(i->append(0, 0, 0, 0)), "txn_index::append noexcept");
  static_assert(noexcept(i->marker(0, 0, 0, true)), "txn_index::marker noexcept");
  static_assert(noexcept(ci->last_stable_offset()), "txn_index::last_stable_offset noexcept");
  return true;
}
static_assert(txn_noexcept<coordinator, offseq::txn_index<4, 8>>(), "");

// C Shape: "its sizeof ... is documented" — the README's Memory table examples (x86-64).
#if defined(__x86_64__)
static_assert(sizeof(offseq::commit_tracker<16, 64>) == 5120, "README Memory: commit_tracker<16, 64>");
static_assert(sizeof(offseq::sequence_table<1024, 5>) == 114752, "README: sequence_table<1024, 5>");
static_assert(sizeof(offseq::sequence_table<8, 3>) == 648, "README: sequence_table<8, 3>");
static_assert(sizeof(offseq::sequence_table<1, 1>) == 56, "README: sequence_table<1, 1>");
static_assert(sizeof(offseq::txn_coordinator<16, 4, 2, 32, test_hooks>) == 4912, "README: txn_coordinator<16, 4, 2, 32>");
static_assert(sizeof(offseq::txn_index<4, 8>) == 352, "README: txn_index<4, 8>");
static_assert(sizeof(offseq::txn_index_log<offseq::txn_index<4, 8>>) == 440, "README Memory: txn_index_log<txn_index<4, 8>>");
static_assert(sizeof(offseq::producer_log<offseq::sequence_table<8, 3>>) == 96, "README Memory: producer_log<sequence_table<8, 3>>");
#endif

// Answers every marker sent so far (and any sent while answering).
void ack_all(coordinator& c, test_hooks& h, std::uint64_t now) {
  while (!h.markers.empty()) {
    const offseq::txn_marker m = h.markers.front();
    h.markers.erase(h.markers.begin());
    CHECK(c.on_markers_written(m, now) == status::ok);
  }
}

struct txn_env {
  test_hooks h;
  coordinator c{h};
  offseq::producer_result init(const char* id, std::uint64_t now = 0, std::uint32_t timeout = 60000) {
    return c.init_producer_id(id, timeout, now);
  }
  // id in `ongoing` with partitions {1, 2}
  offseq::producer_result ongoing(const char* id, std::uint64_t now = 0, std::uint32_t timeout = 60000) {
    const auto r = init(id, now, timeout);
    REQUIRE(r.code == status::ok);
    const std::uint32_t parts[] = {1, 2};
    REQUIRE(c.add_partitions(id, r.producer_id, r.epoch, parts, 2, now) == status::ok);
    REQUIRE(c.state(id) == txn_state::ongoing);
    return r;
  }
};
}  // namespace

TEST_SUITE("contract") {
TEST_CASE("S3.1 init_producer_id: unknown id -> new producer id, epoch 0, empty; known -> epoch + 1") {
  txn_env e;
  const auto r = e.init("a");
  CHECK(r.code == status::ok);
  CHECK(r.producer_id >= 0);
  CHECK(r.epoch == 0);
  CHECK(e.c.state("a") == txn_state::empty);
  const auto r2 = e.init("a");
  CHECK(r2.code == status::ok);
  CHECK(r2.producer_id == r.producer_id);
  CHECK(r2.epoch == 1);
  const auto b = e.init("b");
  CHECK(b.producer_id != r.producer_id);
  CHECK(b.epoch == 0);
  // from complete_commit and complete_abort too
  const std::uint32_t p1[] = {1};
  REQUIRE(e.c.add_partitions("a", r2.producer_id, r2.epoch, p1, 1, 0) == status::ok);
  REQUIRE(e.c.end_txn("a", r2.producer_id, r2.epoch, offseq::txn_result::commit, 0) == status::ok);
  ack_all(e.c, e.h, 0);
  REQUIRE(e.c.state("a") == txn_state::complete_commit);
  const auto r3 = e.init("a");
  CHECK(r3.code == status::ok);
  CHECK(r3.epoch == 2);
  REQUIRE(e.c.add_partitions("a", r3.producer_id, r3.epoch, p1, 1, 0) == status::ok);
  REQUIRE(e.c.end_txn("a", r3.producer_id, r3.epoch, offseq::txn_result::abort, 0) == status::ok);
  ack_all(e.c, e.h, 0);
  REQUIRE(e.c.state("a") == txn_state::complete_abort);
  CHECK(e.init("a").epoch == 3);
}

TEST_CASE("S3.1 init_producer_id: a retry with the previous epoch as expected gets the current one, no bump") {
  txn_env e;
  const auto r = e.init("a");
  const auto bumped = e.c.init_producer_id("a", 60000, 0, r.producer_id, r.epoch);
  CHECK(bumped.code == status::ok);
  CHECK(bumped.epoch == r.epoch + 1);
  const auto retry = e.c.init_producer_id("a", 60000, 0, r.producer_id, r.epoch);
  CHECK(retry.code == status::ok);
  CHECK(retry.producer_id == r.producer_id);
  CHECK(retry.epoch == bumped.epoch);
  const auto next = e.c.init_producer_id("a", 60000, 0, r.producer_id, bumped.epoch);
  CHECK(next.epoch == bumped.epoch + 1);
}

TEST_CASE("S3.1: after a plain bump, the previous epoch as expected is fenced (not a retry)") {
  txn_env e;
  const auto r0 = e.init("a");
  const auto r1 = e.init("a");  // plain bump, no expected epoch
  REQUIRE(r1.epoch == r0.epoch + 1);
  const auto retry = e.c.init_producer_id("a", 60000, 0, r0.producer_id, r0.epoch);
  // SEMANTICS §3.1's retry is the retry of a bump that itself carried the expected epoch (the
  // case above). After a plain bump (a new producer instance) the holder of the old epoch is a
  // zombie: handing it the current epoch would let two instances share it. Kafka's plain bump
  // sets lastProducerEpoch = -1 (KAFKA_REFERENCE §2.2 rule 10), so this is fenced.
  CHECK(retry.code == status::fenced);
  CHECK(e.c.producer("a").epoch == r1.epoch);  // nothing changed
}

TEST_CASE("S3.1 init_producer_id: epoch exhausted (>= 32766) -> new producer id, epoch 0") {
  txn_env e;
  auto r = e.init("a");
  const std::int64_t first_pid = r.producer_id;
  std::int16_t prev = r.epoch;
  for (int i = 0; i < 40000 && r.producer_id == first_pid; ++i) {
    prev = r.epoch;
    r = e.init("a");
    REQUIRE(r.code == status::ok);
    CHECK(r.epoch <= 32766);
  }
  CHECK(r.producer_id != first_pid);
  CHECK(r.epoch == 0);
  CHECK(prev == 32766);  // the last epoch a bump hands out; the next init rotates
}

TEST_CASE("S3.1 init_producer_id: timeout 0 or above the maximum is invalid_argument") {
  txn_env e;
  CHECK(e.init("a", 0, 0).code == status::invalid_argument);
  CHECK(e.init("a", 0, 900001).code == status::invalid_argument);
  CHECK(e.c.state("a") == txn_state::dead);  // README: dead for unknown ids
  CHECK(e.h.log.empty());
  CHECK(e.init("a", 0, 900000).code == status::ok);
}

TEST_CASE("S3.1 init_producer_id: in ongoing -> fence, abort, concurrent_transactions; in prepare_* -> concurrent") {
  txn_env e;
  const auto r = e.ongoing("a");
  const auto f = e.init("a");
  CHECK(f.code == status::concurrent_transactions);
  CHECK(e.c.state("a") == txn_state::prepare_abort);
  // the old producer is fenced
  const std::uint32_t p3[] = {3};
  CHECK(e.c.add_partitions("a", r.producer_id, r.epoch, p3, 1, 0) == status::fenced);
  CHECK(e.c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::commit, 0) == status::fenced);
  REQUIRE(e.h.markers.size() == 2);
  for (const auto& m : e.h.markers) {
    CHECK(m.result == offseq::txn_result::abort);
    CHECK(m.epoch == r.epoch + 1);
  }
  CHECK(e.init("a").code == status::concurrent_transactions);  // prepare_abort
  ack_all(e.c, e.h, 0);
  CHECK(e.c.state("a") == txn_state::complete_abort);
  const auto again = e.init("a");
  CHECK(again.code == status::ok);
  CHECK(again.epoch == r.epoch + 2);
  // prepare_commit
  const auto s = e.ongoing("b");
  REQUIRE(e.c.end_txn("b", s.producer_id, s.epoch, offseq::txn_result::commit, 0) == status::ok);
  CHECK(e.init("b").code == status::concurrent_transactions);
  CHECK(e.c.state("b") == txn_state::prepare_commit);
}

TEST_CASE("C Status line 42 vs S3.1: init_producer_id on an ongoing transaction") {
  txn_env e;
  (void)e.ongoing("a");
  const std::size_t logged = e.h.log.size();
  const auto f = e.init("a");
  REQUIRE(f.code != status::ok);
  // The one exception to CONTRACT's "anything but ok changed nothing", spelled by SEMANTICS
  // §3.1 (Kafka's fence + abort, then CONCURRENT_TRANSACTIONS; documented in the header).
  CHECK(f.code == status::concurrent_transactions);
  CHECK(e.c.state("a") == txn_state::prepare_abort);
  CHECK(e.h.log.size() == logged + 1);  // one record: prepare_abort with the fenced epoch
}

TEST_CASE("S3.2 add_partitions / add_offsets: unknown_producer, fenced, concurrent_transactions, table_full") {
  txn_env e;
  const std::uint32_t p1[] = {1};
  CHECK(e.c.add_partitions("nobody", 1000, 0, p1, 1, 0) == status::unknown_producer);
  CHECK(e.c.add_offsets("nobody", 1000, 0, 0, 5, 0) == status::unknown_producer);
  const auto r = e.init("a");
  CHECK(e.c.add_partitions("a", r.producer_id + 1, r.epoch, p1, 1, 0) == status::unknown_producer);
  CHECK(e.c.add_offsets("a", r.producer_id + 1, r.epoch, 0, 5, 0) == status::unknown_producer);
  CHECK(e.c.add_partitions("a", r.producer_id, static_cast<std::int16_t>(r.epoch + 1), p1, 1, 0) == status::fenced);
  CHECK(e.c.add_offsets("a", r.producer_id, static_cast<std::int16_t>(r.epoch + 1), 0, 5, 0) == status::fenced);
  CHECK(e.c.state("a") == txn_state::empty);
  // capacity: 4 partitions, 2 offsets per transaction
  const std::uint32_t p5[] = {1, 2, 3, 4, 5};
  CHECK(e.c.add_partitions("a", r.producer_id, r.epoch, p5, 5, 0) == status::table_full);
  CHECK(e.c.state("a") == txn_state::empty);
  CHECK(e.c.add_partitions("a", r.producer_id, r.epoch, p5, 4, 0) == status::ok);
  CHECK(e.c.state("a") == txn_state::ongoing);
  CHECK(e.c.add_partitions("a", r.producer_id, r.epoch, p5 + 4, 1, 0) == status::table_full);
  CHECK(e.c.add_offsets("a", r.producer_id, r.epoch, 0, 5, 0) == status::ok);
  CHECK(e.c.add_offsets("a", r.producer_id, r.epoch, 1, 5, 0) == status::ok);
  CHECK(e.c.add_offsets("a", r.producer_id, r.epoch, 2, 5, 0) == status::table_full);
  // prepare_*
  REQUIRE(e.c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::abort, 0) == status::ok);
  CHECK(e.c.add_partitions("a", r.producer_id, r.epoch, p1, 1, 0) == status::concurrent_transactions);
  CHECK(e.c.add_offsets("a", r.producer_id, r.epoch, 0, 5, 0) == status::concurrent_transactions);
  // add_offsets alone also moves empty -> ongoing
  const auto b = e.init("b");
  CHECK(e.c.add_offsets("b", b.producer_id, b.epoch, 3, 7, 0) == status::ok);
  CHECK(e.c.state("b") == txn_state::ongoing);
}

TEST_CASE("S3.3 end_txn by state") {
  using offseq::txn_result;
  txn_env e;
  auto end = [&](const char* id, const offseq::producer_result& r, txn_result x) {
    return e.c.end_txn(id, r.producer_id, r.epoch, x, 0);
  };
  // empty
  const auto em = e.init("em");
  CHECK(end("em", em, txn_result::commit) == status::invalid_state);
  CHECK(end("em", em, txn_result::abort) == status::invalid_state);
  // ongoing
  const auto oc = e.ongoing("oc");
  CHECK(end("oc", oc, txn_result::commit) == status::ok);
  CHECK(e.c.state("oc") == txn_state::prepare_commit);
  const auto oa = e.ongoing("oa");
  CHECK(end("oa", oa, txn_result::abort) == status::ok);
  CHECK(e.c.state("oa") == txn_state::prepare_abort);
  // prepare_commit / prepare_abort
  CHECK(end("oc", oc, txn_result::commit) == status::concurrent_transactions);
  CHECK(end("oc", oc, txn_result::abort) == status::invalid_state);
  CHECK(end("oa", oa, txn_result::commit) == status::invalid_state);
  CHECK(end("oa", oa, txn_result::abort) == status::concurrent_transactions);
  ack_all(e.c, e.h, 0);
  // complete_commit / complete_abort
  REQUIRE(e.c.state("oc") == txn_state::complete_commit);
  REQUIRE(e.c.state("oa") == txn_state::complete_abort);
  CHECK(end("oc", oc, txn_result::commit) == status::ok);
  CHECK(end("oc", oc, txn_result::abort) == status::invalid_state);
  CHECK(end("oa", oa, txn_result::commit) == status::invalid_state);
  CHECK(end("oa", oa, txn_result::abort) == status::ok);
  CHECK(e.c.state("oc") == txn_state::complete_commit);
  CHECK(e.c.state("oa") == txn_state::complete_abort);
}

TEST_CASE("S3.4 S5.1: end_txn ok once prepare_* is logged; markers; complete_* when all answered") {
  txn_env e;
  const auto r = e.ongoing("a");
  const std::size_t logged = e.h.log.size();
  e.h.fail_log = true;  // write-ahead: nothing reported done unless logged
  CHECK(e.c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::commit, 0) != status::ok);
  CHECK(e.c.state("a") == txn_state::ongoing);
  CHECK(e.h.markers.empty());
  e.h.fail_log = false;
  CHECK(e.c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::commit, 0) == status::ok);
  REQUIRE(e.h.log.size() > logged);
  CHECK(e.h.log.back().state == txn_state::prepare_commit);
  REQUIRE(e.h.markers.size() == 2);
  // one answer in: still prepare_commit
  const auto m0 = e.h.markers[0];
  e.h.markers.erase(e.h.markers.begin());
  CHECK(e.c.on_markers_written(m0, 0) == status::ok);
  CHECK(e.c.state("a") == txn_state::prepare_commit);
  ack_all(e.c, e.h, 0);
  CHECK(e.c.state("a") == txn_state::complete_commit);
  CHECK(e.h.log.back().state == txn_state::complete_commit);
  // the partition set was cleared: the next transaction marks only its own partitions
  const auto r2 = e.init("a");
  const std::uint32_t p7[] = {7};
  REQUIRE(e.c.add_partitions("a", r2.producer_id, r2.epoch, p7, 1, 0) == status::ok);
  REQUIRE(e.c.end_txn("a", r2.producer_id, r2.epoch, offseq::txn_result::abort, 0) == status::ok);
  REQUIRE(e.h.markers.size() == 1);
  CHECK(e.h.markers[0].partition == 7u);
}

TEST_CASE("S3.2 S3.5: start time set from empty; timeout after start + timeout < now fences and aborts") {
  txn_env e;
  const auto r = e.init("a", 0, 5000);
  const std::uint32_t p1[] = {1};
  REQUIRE(e.c.add_partitions("a", r.producer_id, r.epoch, p1, 1, 1000) == status::ok);  // start = 1000
  const std::uint32_t p2[] = {2};
  REQUIRE(e.c.add_partitions("a", r.producer_id, r.epoch, p2, 1, 3000) == status::ok);  // still 1000
  (void)e.c.poll(6000);  // 1000 + 5000 < 6000 is false
  CHECK(e.c.state("a") == txn_state::ongoing);
  (void)e.c.poll(6001);
  CHECK(e.c.state("a") == txn_state::prepare_abort);
  CHECK(e.c.add_partitions("a", r.producer_id, r.epoch, p1, 1, 6002) == status::fenced);
  CHECK(e.c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::commit, 6002) == status::fenced);
  ack_all(e.c, e.h, 6002);
  CHECK(e.c.state("a") == txn_state::complete_abort);
  CHECK(e.c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::abort, 6003) == status::fenced);
}

TEST_CASE("S3.6: recovery restores every id; prepare_* re-send markers; ongoing left to time out") {
  txn_env e;
  const auto pc = e.ongoing("pc", 0, 10000);
  REQUIRE(e.c.end_txn("pc", pc.producer_id, pc.epoch, offseq::txn_result::commit, 0) == status::ok);
  const auto og = e.ongoing("og", 0, 10000);
  const auto cc = e.ongoing("cc", 0, 10000);
  REQUIRE(e.c.end_txn("cc", cc.producer_id, cc.epoch, offseq::txn_result::commit, 0) == status::ok);
  // answer only cc's markers
  std::vector<offseq::txn_marker> pending_markers;
  for (const auto& m : e.h.markers)
    if (m.producer_id == cc.producer_id) CHECK(e.c.on_markers_written(m, 0) == status::ok);
  REQUIRE(e.c.state("cc") == txn_state::complete_commit);

  test_hooks h2;
  h2.next_pid = 5000;
  coordinator c2(h2);
  REQUIRE(c2.recover(e.h.log.data(), e.h.log.size(), 100) == status::ok);
  CHECK(c2.state("pc") == txn_state::prepare_commit);
  CHECK(c2.state("og") == txn_state::ongoing);
  CHECK(c2.state("cc") == txn_state::complete_commit);
  (void)c2.poll(100);
  std::size_t pc_markers = 0;
  for (const auto& m : h2.markers) {
    CHECK(m.producer_id == pc.producer_id);
    CHECK(m.result == offseq::txn_result::commit);
    ++pc_markers;
  }
  CHECK(pc_markers >= 2);
  ack_all(c2, h2, 100);
  CHECK(c2.state("pc") == txn_state::complete_commit);
  CHECK(c2.state("og") == txn_state::ongoing);
  // the restored producer keeps its epoch: the old instance's id/epoch still work
  const std::uint32_t p3[] = {3};
  CHECK(c2.add_partitions("og", og.producer_id, og.epoch, p3, 1, 200) == status::ok);
  (void)c2.poll(10001);
  CHECK(c2.state("og") == txn_state::prepare_abort);
}

TEST_CASE("S3.7: ids idle longer than the id expiry go to dead and free their slot") {
  txn_env e;  // 4 ids, Kafka's 7-day default expiry
  constexpr std::uint64_t week = 604800000;
  for (const char* id : {"a", "b", "c", "d"}) REQUIRE(e.init(id, 0).code == status::ok);
  CHECK(e.init("e", 0).code == status::table_full);
  (void)e.c.poll(week - 1);
  CHECK(e.c.state("a") == txn_state::empty);
  (void)e.c.poll(week + 1);
  CHECK(e.c.state("a") == txn_state::dead);
  CHECK(e.init("e", week + 2).code == status::ok);
}

TEST_CASE("S3.7 boundary: idle for exactly the id expiry is expired (Kafka: inclusive)") {
  txn_env e;
  constexpr std::uint64_t week = 604800000;
  REQUIRE(e.init("a", 0).code == status::ok);
  (void)e.c.poll(week);
  // Kafka's rule is inclusive (lastUpdate <= now - expiry, KAFKA_REFERENCE §2.8), as is the
  // sequence_table's expire (now - last_seen >= idle_ms, CONTRACT): idle for exactly the expiry
  // is expired.
  CHECK(e.c.state("a") == txn_state::dead);
}

TEST_CASE("S3.7: ids in prepare_* or ongoing never expire") {
  txn_env e;
  constexpr std::uint64_t week = 604800000;
  const auto r = e.ongoing("p", 0, 900000);
  REQUIRE(e.c.end_txn("p", r.producer_id, r.epoch, offseq::txn_result::commit, 0) == status::ok);
  e.h.markers.clear();  // the transport lost them
  (void)e.c.poll(2 * week);
  CHECK(e.c.state("p") == txn_state::prepare_commit);
  CHECK_FALSE(e.h.markers.empty());  // re-sent instead
}

namespace {
struct async_hooks : test_hooks {  // README: async_log = true, completion via on_log_durable
  static constexpr bool async_log = true;
};
using async_coordinator = offseq::txn_coordinator<4, txn_p, txn_o, txn_l, async_hooks>;
}  // namespace

TEST_CASE("S3.2: a transition in progress (log not yet durable) answers concurrent_transactions") {
  async_hooks h;
  async_coordinator c(h);
  auto r = c.init_producer_id("a", 60000, 0);
  REQUIRE(r.code == status::ok);
  REQUIRE(h.log.size() == 1);
  REQUIRE(c.on_log_durable(h.log.back().lsn, 0) == status::ok);
  const std::uint32_t p1[] = {1};
  CHECK(c.add_partitions("a", r.producer_id, r.epoch, p1, 1, 0) == status::ok);  // queued
  CHECK(c.add_offsets("a", r.producer_id, r.epoch, 0, 5, 0) == status::concurrent_transactions);
  CHECK(c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::commit, 0) == status::concurrent_transactions);
  REQUIRE(c.on_log_durable(h.log.back().lsn, 0) == status::ok);
  CHECK(c.state("a") == txn_state::ongoing);
  CHECK(c.add_offsets("a", r.producer_id, r.epoch, 0, 5, 0) == status::ok);
}

namespace {
struct contract_hooks {  // exactly CONTRACT.md's three hooks: log append, marker sender, pid allocator
  std::vector<txn_record> log;
  std::vector<offseq::txn_marker> markers;
  offseq::status log_append(const txn_record& r) noexcept {
    log.push_back(r);
    return offseq::status::ok;
  }
  offseq::status send_marker(const offseq::txn_marker& m) noexcept {
    markers.push_back(m);
    return offseq::status::ok;
  }
  offseq::status allocate_producer_id(std::int64_t& out) noexcept {
    out = 77;
    return offseq::status::ok;
  }
};
}  // namespace

TEST_CASE("C Transactions: a policy with only the three contract hooks runs a transaction") {
  contract_hooks h;
  offseq::txn_coordinator<2, txn_p, txn_o, txn_l, contract_hooks> c(h);
  const auto r = c.init_producer_id("a", 1000, 0);
  REQUIRE(r.code == status::ok);
  CHECK(r.producer_id == 77);
  const std::uint32_t p1[] = {1};
  REQUIRE(c.add_partitions("a", r.producer_id, r.epoch, p1, 1, 0) == status::ok);
  REQUIRE(c.add_offsets("a", r.producer_id, r.epoch, 3, 40, 0) == status::ok);
  REQUIRE(c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::commit, 0) == status::ok);
  // S3.8 without an apply hook: the committed offsets are in the durable prepare_commit record
  REQUIRE_FALSE(h.log.empty());
  CHECK(h.log.back().state == txn_state::prepare_commit);
  CHECK(h.log.back().offset_count == 1);
  CHECK(h.log.back().offsets[0].next_offset == 40);
  while (!h.markers.empty()) {
    const auto m = h.markers.back();
    h.markers.pop_back();
    CHECK(c.on_markers_written(m, 0) == status::ok);
  }
  CHECK(c.state("a") == txn_state::complete_commit);
}

TEST_CASE("S3.8: offsets pending until commit, applied (monotonically) on commit, dropped on abort") {
  txn_env e;
  offseq::commit_tracker<8> tracker;
  e.h.tracker = &tracker;
  e.h.gen = tracker.assign(3);
  REQUIRE(tracker.commit(3, 100, e.h.gen) == status::ok);
  const auto r = e.init("a");
  CHECK(e.c.add_offsets("a", r.producer_id, r.epoch, 3, 150, 0) == status::ok);
  CHECK(e.c.unstable_offset(3));
  CHECK(tracker.committed(3) == 100);  // invisible to readers while pending
  REQUIRE(e.c.end_txn("a", r.producer_id, r.epoch, offseq::txn_result::commit, 0) == status::ok);
  ack_all(e.c, e.h, 0);
  CHECK(e.c.state("a") == txn_state::complete_commit);
  CHECK(tracker.committed(3) == 150);
  CHECK_FALSE(e.c.unstable_offset(3));
  // S1.2 applies: a lower committed offset does not rewind, and the commit still completes
  const auto r2 = e.init("a");
  REQUIRE(e.c.add_offsets("a", r2.producer_id, r2.epoch, 3, 60, 0) == status::ok);
  REQUIRE(e.c.end_txn("a", r2.producer_id, r2.epoch, offseq::txn_result::commit, 0) == status::ok);
  ack_all(e.c, e.h, 0);
  (void)e.c.poll(1);
  CHECK(e.c.state("a") == txn_state::complete_commit);
  CHECK(tracker.committed(3) == 150);
  // abort drops them
  const auto r3 = e.init("a");
  REQUIRE(e.c.add_offsets("a", r3.producer_id, r3.epoch, 3, 500, 0) == status::ok);
  REQUIRE(e.c.end_txn("a", r3.producer_id, r3.epoch, offseq::txn_result::abort, 0) == status::ok);
  ack_all(e.c, e.h, 0);
  (void)e.c.poll(2);
  CHECK(e.c.state("a") == txn_state::complete_abort);
  CHECK(tracker.committed(3) == 150);
  CHECK_FALSE(e.c.unstable_offset(3));
  for (const auto& a : e.h.applied) CHECK(a.second != 500);
}

// ---------------------------------------------------------------- S4 read_committed
TEST_CASE("S4.1: LSO = first offset of the earliest open transaction, else HW; never above HW") {
  offseq::txn_index<4, 8> idx;
  CHECK(idx.last_stable_offset() == 0);
  REQUIRE(idx.append(1, 0, 10, 14) == status::ok);
  REQUIRE(idx.append(2, 0, 15, 19) == status::ok);
  REQUIRE(idx.set_high_watermark(5) == status::ok);
  CHECK(idx.last_stable_offset() == 5);  // never above the HW
  REQUIRE(idx.set_high_watermark(20) == status::ok);
  CHECK(idx.last_stable_offset() == 10);
  REQUIRE(idx.marker(1, 0, 20, false) == status::ok);
  REQUIRE(idx.set_high_watermark(21) == status::ok);
  CHECK(idx.last_stable_offset() == 15);  // producer 1 done, producer 2 still open
  REQUIRE(idx.marker(2, 0, 21, true) == status::ok);
  REQUIRE(idx.set_high_watermark(22) == status::ok);
  CHECK(idx.last_stable_offset() == 22);  // nothing open: the HW
}

TEST_CASE("S4.2: only aborted transactions are indexed (pid, first, last = marker); readers skip them") {
  offseq::txn_index<4, 8> idx;
  REQUIRE(idx.append(1, 0, 0, 4) == status::ok);
  REQUIRE(idx.append(2, 0, 5, 9) == status::ok);
  REQUIRE(idx.append(1, 0, 10, 12) == status::ok);
  REQUIRE(idx.marker(1, 0, 13, false) == status::ok);  // abort
  REQUIRE(idx.marker(2, 0, 14, true) == status::ok);   // commit
  REQUIRE(idx.set_high_watermark(15) == status::ok);
  offseq::aborted_txn out[4];
  std::size_t found = 0;
  REQUIRE(idx.aborted(0, 15, out, 4, found) == status::ok);
  REQUIRE(found == 1);
  CHECK(out[0].producer_id == 1);
  CHECK(out[0].first_offset == 0);
  CHECK(out[0].last_offset == 13);
  CHECK(idx.should_skip(1, 0));
  CHECK(idx.should_skip(1, 11));
  CHECK_FALSE(idx.should_skip(2, 7));
  CHECK_FALSE(idx.should_skip(1, 20));
}
}  // TEST_SUITE

// ==================================================================== S5 durability (journal)
// CONTRACT "Persistence": journal<Storage>; the Storage used is platform/sim_flash.hpp (NOR
// rules, power cut after any byte). Calls follow README "Durability / journal".
namespace {
using flash = offseq::sim::sim_flash;
static_assert(std::is_same<offseq::journal<flash>::storage_type, flash>::value, "C: journal<Storage> with defaults");
using jrnl = offseq::journal<flash, 64, 16>;

struct journal_run {
  std::uint64_t durable = 0;   // last value whose sync returned ok
  std::uint64_t appended = 0;  // last value handed to append
};

// Appends values 1..count, one record each, sync after each; compacts (snapshot = last
// durable value) when the area is full. Stops at the first failure (the power cut).
journal_run write_values(flash& f, std::uint64_t count) {
  journal_run r;
  jrnl j(f);
  if (j.format() != status::ok) return r;
  for (std::uint64_t v = 1; v <= count; ++v) {
    r.appended = v;
    status s = j.append(0x01, &v, sizeof v);
    if (s == status::table_full) {
      const std::uint64_t snap = r.durable;
      s = j.compact([snap](jrnl& jj) { return jj.append(0x01, &snap, sizeof snap); });
      if (s == status::ok) s = j.append(0x01, &v, sizeof v);
    }
    if (s == status::ok) s = j.sync();
    if (s != status::ok) return r;
    r.durable = v;
  }
  return r;
}

// Recovers: every record intact (8 bytes, values never going back); returns the last value.
status recover_values(flash& f, std::uint64_t& last, bool& well_formed) {
  jrnl j(f);
  last = 0;
  well_formed = true;
  return j.open([&](std::uint8_t type, const std::uint8_t* p, std::size_t n) {
    std::uint64_t v = 0;
    if (type != 0x01 || n != sizeof v) {
      well_formed = false;
      return;
    }
    std::memcpy(&v, p, n);
    if (v < last) well_formed = false;
    last = v;
  });
}
}  // namespace

TEST_SUITE("contract") {
TEST_CASE("S5.1 S5.3: a power cut at any byte of any write loses nothing a completed sync covered") {
  constexpr std::uint64_t values = 80;  // enough to compact several times in 2 KiB
  flash whole(2048, 256, 16);
  REQUIRE(write_values(whole, values).durable == values);
  const std::uint64_t cut_points = whole.cut_points();
  REQUIRE(cut_points > 0);
  int failures = 0;
  for (int half = 0; half < 2; ++half)
    for (std::uint64_t cut = 0; cut < cut_points && failures < 5; ++cut) {
      flash f(2048, 256, 16);
      f.half_program(half != 0);
      f.cut_after(cut);
      const journal_run r = write_values(f, values);
      f.power_on();
      std::uint64_t last = 0;
      bool well_formed = true;
      const status s = recover_values(f, last, well_formed);
      // never older than the last sync, never a record nobody appended, never a mix
      const bool good = (s == status::ok || (s == status::not_found && r.durable == 0)) && well_formed &&
                        last >= r.durable && last <= r.appended && f.overwrite_errors() == 0;
      if (!good) {
        ++failures;
        INFO("cut " << cut << " half " << half << ": " << offseq::to_string(s) << " last " << last << " durable "
                    << r.durable << " appended " << r.appended);
        CHECK(good);
      }
    }
  CHECK(failures == 0);
}

TEST_CASE("S5.2: damage is detected; recovery stops at the last intact record") {
  flash f(2048, 256, 16);
  {
    jrnl j(f);
    REQUIRE(j.format() == status::ok);
    // distinctive values, so that the search below cannot hit a header's sequence number
    for (std::uint64_t v = 1; v <= 5; ++v) {
      const std::uint64_t x = 0x5a5a5a5a00000000u + v;
      REQUIRE(j.append(0x01, &x, sizeof x) == status::ok);
    }
    REQUIRE(j.sync() == status::ok);
  }
  // find the record holding value 4 and flip a payload bit
  std::size_t at = 0;
  const std::uint64_t four = 0x5a5a5a5a00000004u;
  for (std::size_t a = 0; a + 8 <= f.bytes().size(); ++a)
    if (std::memcmp(f.bytes().data() + a, &four, 8) == 0) {
      at = a;
      break;
    }
  REQUIRE(at != 0);
  f.flip(at, 3);
  std::uint64_t last = 0;
  bool well_formed = true;
  const status s = recover_values(f, last, well_formed);
  CHECK((s == status::ok || s == status::corrupt));
  CHECK(well_formed);
  CHECK(last == 0x5a5a5a5a00000003u);  // 1..3 visited, nothing from the damaged record or after it
}

namespace {
std::uint32_t crc32c(const std::uint8_t* p, std::size_t n) {  // Castagnoli, reflected
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}
}  // namespace

TEST_CASE("C Persistence: the record encoding is the one documented byte by byte (README, version 1)") {
  flash f(2048, 256, 16);
  jrnl j(f);
  REQUIRE(j.format() == status::ok);
  const std::uint8_t payload[5] = {0xC1, 0xC2, 0xC3, 0xC4, 0xC5};
  REQUIRE(j.append(0x42, payload, sizeof payload) == status::ok);
  REQUIRE(j.sync() == status::ok);
  const auto& b = f.bytes();
  std::size_t at = b.size();
  for (std::size_t a = 16; a + 5 <= b.size(); ++a)
    if (std::memcmp(b.data() + a, payload, 5) == 0) {
      at = a - 16;
      break;
    }
  REQUIRE(at < b.size());
  CHECK(at % 16 == 0);  // records start on a program unit
  CHECK(b[at + 0] == 0x6F);
  CHECK(b[at + 1] == 0x6A);
  CHECK(b[at + 2] == 1);
  CHECK(b[at + 3] == 0x42);
  CHECK(b[at + 4] == 5);  // little-endian length
  CHECK(b[at + 5] == 0);
  CHECK(b[at + 6] == 0xFA);  // ~length
  CHECK(b[at + 7] == 0xFF);
  const std::uint32_t crc = crc32c(b.data() + at, 16 + 5);
  const std::uint32_t stored = static_cast<std::uint32_t>(b[at + 21]) | static_cast<std::uint32_t>(b[at + 22]) << 8 |
                               static_cast<std::uint32_t>(b[at + 23]) << 16 | static_cast<std::uint32_t>(b[at + 24]) << 24;
  CHECK(stored == crc);
  for (std::size_t i = at + 25; i < at + 32; ++i) CHECK(b[i] == 0xFF);  // padding never written
}

TEST_CASE("S2.10: every History batch survives a restart (README producer_log)") {
  using table5 = offseq::sequence_table<4, 5>;
  using pjrnl = offseq::journal<flash, 256, 16>;  // room for one producer entry
  flash f(4096, 256, 16);
  {
    table5 t;
    offseq::producer_log<table5> pl;
    pjrnl j(f);
    REQUIRE(j.format() == status::ok);
    for (std::int32_t i = 0; i < 5; ++i) REQUIRE(pl.admit(t, bh(9, 0, i * 2, i * 2 + 1), 100 + i, 0).code == status::ok);
    REQUIRE(pl.flush(j, t, [&](pjrnl& jj) { return pl.write_snapshot(jj, t); }) == status::ok);
  }
  table5 t;
  pjrnl j(f);
  REQUIRE(offseq::producer_log<table5>::load(j, t) == status::ok);
  for (std::int32_t i = 0; i < 5; ++i) {
    const auto v = t.check(bh(9, 0, i * 2, i * 2 + 1));
    CHECK(v.code == status::duplicate);
    CHECK(v.offset == 100 + i);
  }
  CHECK(t.check(bh(9, 0, 10, 10)).code == status::ok);
}
}  // TEST_SUITE
