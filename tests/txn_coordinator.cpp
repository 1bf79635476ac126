// Transactions: SEMANTICS.md §3 (Kafka's TransactionCoordinator / TransactionMetadata), one
// test case per rule, plus the contract edges of txn_coordinator.
#include <doctest/doctest.h>

#include <offseq.hpp>
#include <host.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using offseq::status;
using offseq::txn_result;
using offseq::txn_state;

namespace {
constexpr txn_state all_states[] = {txn_state::empty,           txn_state::ongoing,        txn_state::prepare_commit,
                                    txn_state::prepare_abort,   txn_state::complete_commit, txn_state::complete_abort,
                                    txn_state::dead,            txn_state::prepare_epoch_fence};
}  // namespace

TEST_CASE("§3 txn_state ids are Kafka's stored TransactionState ids") {
  static_assert(static_cast<int>(txn_state::empty) == 0, "");
  static_assert(static_cast<int>(txn_state::ongoing) == 1, "");
  static_assert(static_cast<int>(txn_state::prepare_commit) == 2, "");
  static_assert(static_cast<int>(txn_state::prepare_abort) == 3, "");
  static_assert(static_cast<int>(txn_state::complete_commit) == 4, "");
  static_assert(static_cast<int>(txn_state::complete_abort) == 5, "");
  static_assert(static_cast<int>(txn_state::dead) == 6, "");
  static_assert(static_cast<int>(txn_state::prepare_epoch_fence) == 7, "");
  static_assert(sizeof(txn_state) == 1, "");
  CHECK(std::string(offseq::to_string(txn_state::prepare_epoch_fence)) == "prepare_epoch_fence");
  for (txn_state s : all_states) CHECK(offseq::to_string(s) != nullptr);
  CHECK(std::string(offseq::to_string(static_cast<txn_state>(200))) == "unknown");
  static_assert(offseq::to_string(txn_state::ongoing)[0] == 'o', "constexpr");
}

TEST_CASE("§3 valid previous states (is_valid_transition is Kafka's classic table)") {
  using s = txn_state;
  // Exactly these pairs are valid (SEMANTICS.md §3 table / Kafka TransactionState.validPreviousStates).
  const std::pair<s, s> valid[] = {
      {s::empty, s::empty},           {s::complete_commit, s::empty},         {s::complete_abort, s::empty},
      {s::ongoing, s::ongoing},       {s::empty, s::ongoing},                 {s::complete_commit, s::ongoing},
      {s::complete_abort, s::ongoing}, {s::ongoing, s::prepare_commit},       {s::ongoing, s::prepare_abort},
      {s::prepare_epoch_fence, s::prepare_abort}, {s::prepare_commit, s::complete_commit},
      {s::prepare_abort, s::complete_abort},      {s::empty, s::dead},        {s::complete_abort, s::dead},
      {s::complete_commit, s::dead},              {s::ongoing, s::prepare_epoch_fence},
  };
  int n_valid = 0;
  for (s from : all_states)
    for (s to : all_states) {
      bool expect = false;
      for (const auto& v : valid) expect = expect || (v.first == from && v.second == to);
      CAPTURE(offseq::to_string(from));
      CAPTURE(offseq::to_string(to));
      CHECK(offseq::is_valid_transition(from, to) == expect);
      n_valid += expect ? 1 : 0;
    }
  CHECK(n_valid == 16);
  CHECK_FALSE(offseq::is_valid_transition(static_cast<s>(9), s::empty));
  CHECK_FALSE(offseq::is_valid_transition(s::ongoing, static_cast<s>(9)));
  static_assert(offseq::is_valid_transition(s::ongoing, s::prepare_commit), "constexpr");
  static_assert(!offseq::is_valid_transition(s::dead, s::empty), "dead is final");
}

// ------------------------------------------------------------------------------------------
// txn_coordinator
// ------------------------------------------------------------------------------------------
namespace {
using rec = offseq::txn_log_record<4, 3, 16>;
using hooks_t = offseq::host::txn_memory_hooks<rec>;
using coord = offseq::txn_coordinator<4, 4, 3, 16, hooks_t>;
using ahooks_t = offseq::host::txn_memory_hooks<rec, true>;
using acoord = offseq::txn_coordinator<4, 4, 3, 16, ahooks_t>;
constexpr std::uint32_t tmo = 60000;
constexpr txn_result commit = txn_result::commit;
constexpr txn_result abort_ = txn_result::abort;

// Everything observable about one id, to assert "a call that returns anything but ok changed nothing".
struct view {
  txn_state st;
  txn_state pend;
  status pcode;
  std::int64_t pid;
  std::int16_t epoch;
  std::size_t log_size;
  std::size_t sent;
  std::size_t ids;
  std::uint64_t lsn;
  bool operator==(const view& o) const {
    return st == o.st && pend == o.pend && pcode == o.pcode && pid == o.pid && epoch == o.epoch &&
           log_size == o.log_size && sent == o.sent && ids == o.ids && lsn == o.lsn;
  }
};
template <class C>
view look(C& c, offseq::txn_id id = "t") {
  const auto p = c.producer(id);
  return view{c.state(id), c.pending_state(id), p.code, p.producer_id, p.epoch,
              c.hooks().log.size() + c.hooks().in_flight.size(), c.hooks().sent.size(), c.size(), c.next_lsn()};
}

// One coordinator with sync in-memory hooks and id "t" driven to a chosen state.
struct fx {
  hooks_t h;
  coord c{h};
  std::int64_t pid = -1;
  std::int16_t ep = -1;
  std::uint64_t now = 1000;

  void init() {
    const auto r = c.init_producer_id("t", tmo, now);
    REQUIRE(r.code == status::ok);
    pid = r.producer_id;
    ep = r.epoch;
  }
  // Drives "t" to `s` (dead = never created).
  void to(txn_state s) {
    if (s == txn_state::dead) return;
    init();
    if (s == txn_state::empty) return;
    REQUIRE(c.add_partitions("t", pid, ep, 7u, now) == status::ok);
    if (s == txn_state::ongoing) return;
    const bool cm = s == txn_state::prepare_commit || s == txn_state::complete_commit;
    REQUIRE(c.end_txn("t", pid, ep, cm ? commit : abort_, now) == status::ok);
    if (s == txn_state::prepare_commit || s == txn_state::prepare_abort) return;
    h.ack_markers(c, now);
    REQUIRE(c.state("t") == s);
  }
};

const txn_state live_states[] = {txn_state::dead,           txn_state::empty,           txn_state::ongoing,
                                 txn_state::prepare_commit, txn_state::prepare_abort,   txn_state::complete_commit,
                                 txn_state::complete_abort};
}  // namespace

TEST_CASE("contract: sizeof and record layout are the documented formulas") {
  static_assert(sizeof(rec) == ((52 + 16 + 3) / 4 * 4 + 4 * 4 + 7) / 8 * 8 + 16 * 3, "record formula");
  static_assert(coord::slot_size == 2 * sizeof(rec) + 8 + (3 + 2 * 4 + 3 + 7) / 8 * 8, "slot formula");
  static_assert(sizeof(coord) >= 4 * coord::slot_size, "");
  static_assert(std::is_trivially_copyable<rec>::value, "");
  CHECK(sizeof(coord) <= 4 * coord::slot_size + 64);
}

TEST_CASE("contract: transactional ids are bounded byte strings stored in the slot") {
  fx f;
  const std::string max(16, 'x');
  const std::string over(17, 'x');
  const auto before = look(f.c, over.c_str());
  CHECK(f.c.init_producer_id(over.c_str(), tmo, 1).code == status::invalid_argument);
  CHECK(look(f.c, over.c_str()) == before);
  CHECK(f.c.init_producer_id("", tmo, 1).code == status::invalid_argument);
  CHECK(f.c.init_producer_id(offseq::txn_id(nullptr, 3), tmo, 1).code == status::invalid_argument);
  CHECK(f.c.size() == 0);
  CHECK(f.h.log.empty());
  const auto r = f.c.init_producer_id(max.c_str(), tmo, 1);
  CHECK(r.code == status::ok);
  // Stored by value: the caller's buffer may go away; embedded NULs and prefixes are distinct ids.
  std::string tmp = max;
  tmp[3] = 'y';
  CHECK(f.c.state(max.c_str()) == txn_state::empty);
  CHECK(f.c.state(tmp.c_str()) == txn_state::dead);
  const char nul_id[3] = {'a', '\0', 'b'};
  CHECK(f.c.init_producer_id(offseq::txn_id(nul_id, 3), tmo, 1).code == status::ok);
  CHECK(f.c.state(offseq::txn_id(nul_id, 3)) == txn_state::empty);
  CHECK(f.c.state("a") == txn_state::dead);
  CHECK(f.h.log.size() == 2);
  CHECK(std::string(f.h.log[0].id, f.h.log[0].id_length) == max);
}

TEST_CASE("§3.1 init_producer_id: unknown id gets a new producer id, epoch 0, state empty") {
  fx f;
  const auto r = f.c.init_producer_id("t", tmo, 5);
  CHECK(r.code == status::ok);
  CHECK(r.producer_id == 1000);
  CHECK(r.epoch == 0);
  CHECK(f.c.state("t") == txn_state::empty);
  REQUIRE(f.h.log.size() == 1);
  CHECK(f.h.log[0].state == txn_state::empty);
  CHECK(f.h.log[0].lsn == 1);
  CHECK(f.h.log[0].timeout_ms == tmo);
  CHECK(f.c.init_producer_id("u", tmo, 5).producer_id == 1001);
}

TEST_CASE("§3.1 init_producer_id: known id in empty/complete_* bumps the epoch") {
  for (txn_state s : {txn_state::empty, txn_state::complete_commit, txn_state::complete_abort}) {
    CAPTURE(offseq::to_string(s));
    fx f;
    f.to(s);
    const auto r = f.c.init_producer_id("t", tmo, f.now);
    CHECK(r.code == status::ok);
    CHECK(r.producer_id == f.pid);
    CHECK(r.epoch == f.ep + 1);
    CHECK(f.c.state("t") == txn_state::empty);
    CHECK(f.h.log.back().partition_count == 0);
    // The old epoch is fenced now.
    CHECK(f.c.add_partitions("t", f.pid, f.ep, 1u, f.now) == status::fenced);
    CHECK(f.c.add_partitions("t", f.pid, r.epoch, 1u, f.now) == status::ok);
  }
}

TEST_CASE("§3.1 init_producer_id: retry with the previous epoch returns the current epoch without bumping") {
  fx f;
  f.init();  // epoch 0
  auto r = f.c.init_producer_id("t", tmo, 2, f.pid, 0);  // expected == current: bump, last = 0
  REQUIRE(r.code == status::ok);
  CHECK(r.epoch == 1);
  // The answer was lost; the producer retries with the same expected epoch: no second bump.
  auto again = f.c.init_producer_id("t", tmo, 3, f.pid, 0);
  CHECK(again.code == status::ok);
  CHECK(again.epoch == 1);
  CHECK(f.c.producer("t").epoch == 1);
  // An expected epoch that is neither current nor last: fenced, nothing changed.
  const auto before = look(f.c);
  CHECK(f.c.init_producer_id("t", tmo, 4, f.pid, 7).code == status::fenced);
  CHECK(f.c.init_producer_id("t", tmo, 4, f.pid + 5, 1).code == status::fenced);  // unknown expected pid
  CHECK(look(f.c) == before);
  // A pid without an epoch (or the reverse) is a malformed request.
  CHECK(f.c.init_producer_id("t", tmo, 4, f.pid, -1).code == status::invalid_argument);
  CHECK(f.c.init_producer_id("t", tmo, 4, -1, 1).code == status::invalid_argument);
  CHECK(f.c.init_producer_id("t", tmo, 4, -2, -2).code == status::invalid_argument);
  CHECK(look(f.c) == before);
  // Without expected: always a bump (last epoch forgotten).
  CHECK(f.c.init_producer_id("t", tmo, 5).epoch == 2);
  CHECK(f.c.init_producer_id("t", tmo, 6, f.pid, 1).code == status::fenced);
}

TEST_CASE("§3.1 init_producer_id: epoch exhaustion at 32766 rotates to a new producer id") {
  fx f;
  f.init();
  // Walk the epoch up to the exhausted value through the log-visible path.
  std::int16_t e = 0;
  while (e < coord::exhausted_epoch) {
    const auto r = f.c.init_producer_id("t", tmo, 2, f.pid, e);
    REQUIRE(r.code == status::ok);
    REQUIRE(r.producer_id == f.pid);
    e = r.epoch;
  }
  CHECK(e == 32766);  // a client bump returns at most MAX - 1
  const auto rot = f.c.init_producer_id("t", tmo, 3, f.pid, e);
  CHECK(rot.code == status::ok);
  CHECK(rot.producer_id != f.pid);
  CHECK(rot.epoch == 0);
  CHECK(f.h.log.back().last_producer_id == f.pid);
  CHECK(f.h.log.back().last_epoch == 32766);
  // Retry of the rotation (answer lost): the old pid with its exhausted epoch gets the new identity.
  const auto retry = f.c.init_producer_id("t", tmo, 4, f.pid, e);
  CHECK(retry.code == status::ok);
  CHECK(retry.producer_id == rot.producer_id);
  CHECK(retry.epoch == 0);
  // The old pid with a non-exhausted epoch is fenced.
  CHECK(f.c.init_producer_id("t", tmo, 5, f.pid, 3).code == status::fenced);
  // Old producer requests: unknown mapping.
  CHECK(f.c.add_partitions("t", f.pid, e, 1u, 6) == status::unknown_producer);

  // Without an expected epoch the rotation forgets the last epoch.
  fx g;
  g.init();
  for (std::int16_t k = 0; k < coord::exhausted_epoch; ++k) REQUIRE(g.c.init_producer_id("t", tmo, 2).code == status::ok);
  CHECK(g.c.producer("t").epoch == 32766);
  const auto r2 = g.c.init_producer_id("t", tmo, 3);
  CHECK(r2.epoch == 0);
  CHECK(r2.producer_id != g.pid);
  CHECK(g.h.log.back().last_epoch == -1);
}

TEST_CASE("§3.1 init_producer_id: ongoing is fenced (epoch + 1), aborted, answered concurrent_transactions") {
  fx f;
  f.to(txn_state::ongoing);
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 2, 50, f.now) == status::ok);
  CHECK(f.c.init_producer_id("t", tmo, f.now).code == status::concurrent_transactions);
  CHECK(f.c.state("t") == txn_state::prepare_abort);
  CHECK(f.c.producer("t").epoch == f.ep + 1);
  CHECK(f.h.log.back().state == txn_state::prepare_abort);
  CHECK(f.h.log.back().epoch == f.ep + 1);
  CHECK(f.h.log.back().offset_count == 0);  // abort drops pending offsets
  REQUIRE(f.h.sent.size() == 1);
  CHECK(f.h.sent[0].result == abort_);
  CHECK(f.h.sent[0].epoch == f.ep + 1);  // the markers fence the old producer on the data partitions
  CHECK(f.h.sent[0].partition == 7u);
  CHECK_FALSE(f.c.unstable_offset(2));
  // The old producer is fenced; its retry keeps getting concurrent_transactions until the abort completes.
  CHECK(f.c.end_txn("t", f.pid, f.ep, commit, f.now) == status::fenced);
  CHECK(f.c.init_producer_id("t", tmo, f.now).code == status::concurrent_transactions);
  f.h.ack_markers(f.c, f.now);
  CHECK(f.c.state("t") == txn_state::complete_abort);
  const auto r = f.c.init_producer_id("t", tmo, f.now);
  CHECK(r.code == status::ok);
  CHECK(r.epoch == f.ep + 2);  // bumped a second time, as Kafka
  CHECK(f.h.offsets.empty());
}

TEST_CASE("§3.1 init_producer_id: prepare_* answers concurrent_transactions") {
  for (txn_state s : {txn_state::prepare_commit, txn_state::prepare_abort}) {
    fx f;
    f.to(s);
    const auto before = look(f.c);
    CHECK(f.c.init_producer_id("t", tmo, f.now).code == status::concurrent_transactions);
    CHECK(f.c.init_producer_id("t", tmo, f.now, f.pid, f.ep).code == status::concurrent_transactions);
    CHECK(look(f.c) == before);
  }
}

TEST_CASE("§3.1 init_producer_id: timeout 0 or above the maximum is invalid_argument") {
  fx f;
  CHECK(f.c.init_producer_id("t", 0, 1).code == status::invalid_argument);
  CHECK(f.c.init_producer_id("t", 900001, 1).code == status::invalid_argument);
  CHECK(f.c.size() == 0);
  CHECK(f.c.init_producer_id("t", 900000, 1).code == status::ok);
  offseq::txn_config cfg;
  cfg.max_timeout_ms = 100;
  hooks_t h2;
  coord c2(h2, cfg);
  CHECK(c2.init_producer_id("t", 101, 1).code == status::invalid_argument);
  CHECK(c2.init_producer_id("t", 100, 1).code == status::ok);
}

TEST_CASE("§3.2 add_partitions/add_offsets: unknown id or producer id mismatch is unknown_producer") {
  fx f;
  CHECK(f.c.add_partitions("t", 1000, 0, 1u, 1) == status::unknown_producer);
  CHECK(f.c.add_offsets("t", 1000, 0, 1, 5, 1) == status::unknown_producer);
  f.init();
  const auto before = look(f.c);
  CHECK(f.c.add_partitions("t", f.pid + 1, f.ep, 1u, 1) == status::unknown_producer);
  CHECK(f.c.add_offsets("t", f.pid + 1, f.ep, 1, 5, 1) == status::unknown_producer);
  CHECK(f.c.end_txn("t", f.pid + 1, f.ep, commit, 1) == status::unknown_producer);
  CHECK(f.c.add_partitions("t", -1, f.ep, 1u, 1) == status::invalid_argument);
  CHECK(f.c.add_partitions("t", f.pid, -1, 1u, 1) == status::invalid_argument);
  CHECK(f.c.add_partitions("t", f.pid, f.ep, nullptr, 1, 1) == status::invalid_argument);
  const std::uint32_t one = 1;
  CHECK(f.c.add_partitions("t", f.pid, f.ep, &one, 0, 1) == status::invalid_argument);
  CHECK(f.c.add_offsets("t", f.pid, f.ep, 1, -1, 1) == status::invalid_argument);
  CHECK(look(f.c) == before);
}

TEST_CASE("§3.2 add_partitions/add_offsets: epoch != current is fenced") {
  fx f;
  f.init();
  CHECK(f.c.init_producer_id("t", tmo, 1).code == status::ok);  // epoch 1
  const auto before = look(f.c);
  CHECK(f.c.add_partitions("t", f.pid, 0, 1u, 1) == status::fenced);
  CHECK(f.c.add_partitions("t", f.pid, 2, 1u, 1) == status::fenced);
  CHECK(f.c.add_offsets("t", f.pid, 0, 1, 5, 1) == status::fenced);
  CHECK(f.c.end_txn("t", f.pid, 0, commit, 1) == status::fenced);
  CHECK(look(f.c) == before);
}

TEST_CASE("§3.2 add_partitions/add_offsets: prepare_* or a transition in progress is concurrent_transactions") {
  for (txn_state s : {txn_state::prepare_commit, txn_state::prepare_abort}) {
    fx f;
    f.to(s);
    const auto before = look(f.c);
    CHECK(f.c.add_partitions("t", f.pid, f.ep, 9u, f.now) == status::concurrent_transactions);
    CHECK(f.c.add_offsets("t", f.pid, f.ep, 1, 5, f.now) == status::concurrent_transactions);
    CHECK(look(f.c) == before);
  }
  // Pending transition (async log): every request on the id answers concurrent_transactions.
  ahooks_t h;
  acoord c(h);
  auto r = c.init_producer_id("t", tmo, 1);
  REQUIRE(r.code == status::ok);
  CHECK(c.state("t") == txn_state::dead);  // not durable yet
  CHECK(c.pending("t"));
  CHECK(c.init_producer_id("t", tmo, 1).code == status::concurrent_transactions);
  CHECK(c.add_partitions("t", r.producer_id, 0, 1u, 1) == status::unknown_producer);  // not created yet
  h.complete_log(c, 2);
  CHECK(c.state("t") == txn_state::empty);
  REQUIRE(c.add_partitions("t", r.producer_id, 0, 1u, 2) == status::ok);
  CHECK(c.pending_state("t") == txn_state::ongoing);
  CHECK(c.state("t") == txn_state::empty);
  CHECK(c.add_partitions("t", r.producer_id, 0, 2u, 2) == status::concurrent_transactions);
  CHECK(c.add_offsets("t", r.producer_id, 0, 1, 5, 2) == status::concurrent_transactions);
  CHECK(c.end_txn("t", r.producer_id, 0, commit, 2) == status::concurrent_transactions);
  CHECK(c.init_producer_id("t", tmo, 2).code == status::concurrent_transactions);
  h.complete_log(c, 3);
  CHECK(c.state("t") == txn_state::ongoing);
}

TEST_CASE("§3.2 add_partitions/add_offsets: -> ongoing, start time set only when a transaction begins") {
  fx f;
  f.init();
  f.now = 500;
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 1u, 500) == status::ok);
  CHECK(f.c.state("t") == txn_state::ongoing);
  CHECK(f.h.log.back().txn_start_ms == 500);
  const std::uint32_t more[] = {2, 1, 2, 3};
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, more, 4, 700) == status::ok);
  CHECK(f.h.log.back().txn_start_ms == 500);
  CHECK(f.h.log.back().partition_count == 3);
  // Nothing new: ok without a log write (Kafka: every partition already in the transaction).
  const auto n = f.h.log.size();
  CHECK(f.c.add_partitions("t", f.pid, f.ep, more, 4, 800) == status::ok);
  CHECK(f.h.log.size() == n);
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 4, 10, 800) == status::ok);
  CHECK(f.c.add_offsets("t", f.pid, f.ep, 4, 10, 800) == status::ok);
  CHECK(f.h.log.size() == n + 1);
  // Offsets alone open a transaction too.
  fx g;
  g.init();
  REQUIRE(g.c.add_offsets("t", g.pid, g.ep, 4, 10, 900) == status::ok);
  CHECK(g.c.state("t") == txn_state::ongoing);
  CHECK(g.h.log.back().txn_start_ms == 900);
  // From complete_*: a new transaction with a new start time.
  fx k;
  k.to(txn_state::complete_commit);
  REQUIRE(k.c.add_partitions("t", k.pid, k.ep, 3u, 5000) == status::ok);
  CHECK(k.h.log.back().txn_start_ms == 5000);
  CHECK(k.h.log.back().partition_count == 1);
}

TEST_CASE("§3.2 add_partitions/add_offsets: capacity exceeded is table_full") {
  fx f;
  f.init();
  const std::uint32_t five[] = {1, 2, 3, 4, 5};
  const auto before = look(f.c);
  CHECK(f.c.add_partitions("t", f.pid, f.ep, five, 5, 1) == status::table_full);
  CHECK(look(f.c) == before);
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, five, 4, 1) == status::ok);
  CHECK(f.c.add_partitions("t", f.pid, f.ep, 5u, 1) == status::table_full);
  CHECK(f.c.add_partitions("t", f.pid, f.ep, 4u, 1) == status::ok);
  for (std::uint32_t p = 0; p < 3; ++p) REQUIRE(f.c.add_offsets("t", f.pid, f.ep, p, 1, 1) == status::ok);
  CHECK(f.c.add_offsets("t", f.pid, f.ep, 9, 1, 1) == status::table_full);
  CHECK(f.c.add_offsets("t", f.pid, f.ep, 2, 7, 1) == status::ok);  // replacing needs no slot
  // Transactional ids: capacity 4, new ids then table_full; expiry frees slots (§3.7).
  for (const char* id : {"a", "b", "c"}) REQUIRE(f.c.init_producer_id(id, tmo, 1).code == status::ok);
  const auto full = look(f.c, "e");
  CHECK(f.c.init_producer_id("e", tmo, 1).code == status::table_full);
  CHECK(look(f.c, "e") == full);
}

TEST_CASE("§3.3 end_txn: the EndTxn table for every state and request") {
  struct row {
    txn_state s;
    status on_commit;
    txn_state after_commit;
    status on_abort;
    txn_state after_abort;
  };
  using S = txn_state;
  const row table[] = {
      {S::ongoing, status::ok, S::prepare_commit, status::ok, S::prepare_abort},
      {S::prepare_commit, status::concurrent_transactions, S::prepare_commit, status::invalid_state, S::prepare_commit},
      {S::prepare_abort, status::invalid_state, S::prepare_abort, status::concurrent_transactions, S::prepare_abort},
      {S::complete_commit, status::ok, S::complete_commit, status::invalid_state, S::complete_commit},
      {S::complete_abort, status::invalid_state, S::complete_abort, status::ok, S::complete_abort},
      {S::empty, status::invalid_state, S::empty, status::invalid_state, S::empty},
  };
  for (const row& r : table) {
    for (int which = 0; which < 2; ++which) {
      CAPTURE(offseq::to_string(r.s));
      CAPTURE(which);
      fx f;
      f.to(r.s);
      const auto before = look(f.c);
      const status got = f.c.end_txn("t", f.pid, f.ep, which == 0 ? commit : abort_, f.now);
      CHECK(got == (which == 0 ? r.on_commit : r.on_abort));
      CHECK(f.c.state("t") == (which == 0 ? r.after_commit : r.after_abort));
      if (r.s != S::ongoing) CHECK(look(f.c) == before);  // retries and refusals write nothing
    }
  }
  // Unknown id; pid mismatch; epoch mismatch; invalid result value.
  fx f;
  CHECK(f.c.end_txn("t", 1000, 0, commit, 1) == status::unknown_producer);
  f.to(txn_state::ongoing);
  CHECK(f.c.end_txn("t", f.pid, f.ep, static_cast<txn_result>(2), 1) == status::invalid_argument);
  CHECK(f.c.end_txn("t", f.pid, static_cast<std::int16_t>(f.ep + 1), commit, 1) == status::fenced);
  CHECK(f.c.state("t") == txn_state::ongoing);
}

TEST_CASE("§3 every (state, request) pair") {
  // Rows: the durable state of "t" (dead = unknown id). Columns: init, add_partitions,
  // add_offsets, end_txn(commit), end_txn(abort) with the current identity.
  using S = txn_state;
  const status C = status::concurrent_transactions, O = status::ok, U = status::unknown_producer,
               I = status::invalid_state;
  struct row {
    S s;
    status want[5];
  };
  const row table[] = {
      {S::dead, {O, U, U, U, U}},
      {S::empty, {O, O, O, I, I}},
      {S::ongoing, {C, O, O, O, O}},
      {S::prepare_commit, {C, C, C, C, I}},
      {S::prepare_abort, {C, C, C, I, C}},
      {S::complete_commit, {O, O, O, O, I}},
      {S::complete_abort, {O, O, O, I, O}},
  };
  for (const row& r : table)
    for (int req = 0; req < 5; ++req) {
      CAPTURE(offseq::to_string(r.s));
      CAPTURE(req);
      fx f;
      f.to(r.s);
      const std::int64_t pid = f.pid < 0 ? 1000 : f.pid;
      const std::int16_t ep = f.ep < 0 ? 0 : f.ep;
      status got = status::not_found;
      switch (req) {
        case 0: got = f.c.init_producer_id("t", tmo, f.now).code; break;
        case 1: got = f.c.add_partitions("t", pid, ep, 8u, f.now); break;
        case 2: got = f.c.add_offsets("t", pid, ep, 1, 3, f.now); break;
        case 3: got = f.c.end_txn("t", pid, ep, commit, f.now); break;
        default: got = f.c.end_txn("t", pid, ep, abort_, f.now); break;
      }
      CHECK(got == r.want[req]);
    }
}
