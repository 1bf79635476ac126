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
  static_assert(coord::slot_size == 2 * sizeof(rec) + 8 + (7 + 2 * 4 + 3 + 7) / 8 * 8, "slot formula");
  static_assert(sizeof(coord) >= 4 * coord::slot_size, "");
  static_assert(std::is_trivially_copyable<rec>::value, "");
  CHECK(sizeof(coord) == 4 * coord::slot_size + (sizeof(void*) == 8 ? 48 : 32));
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

TEST_CASE("§3.1 retry rule (KIP-360): only the epoch before a bump made with an expected epoch") {
  // Kafka's prepareIncrementProducerEpoch: expected == lastProducerEpoch is a retry, and
  // lastProducerEpoch is set only by a bump that carried the expected (current) epoch.
  SUBCASE("after a bump without expected: the previous epoch is fenced") {
    fx f;
    f.init();
    REQUIRE(f.c.init_producer_id("t", tmo, 2).epoch == 1);
    const auto before = look(f.c);
    CHECK(f.c.init_producer_id("t", tmo, 3, f.pid, 0).code == status::fenced);
    CHECK(look(f.c) == before);
  }
  SUBCASE("after a fence of an ongoing transaction: the fenced epoch is fenced") {
    fx f;
    f.to(txn_state::ongoing);
    REQUIRE(f.c.init_producer_id("t", tmo, f.now, f.pid, f.ep).code == status::concurrent_transactions);
    f.h.ack_markers(f.c, f.now);
    REQUIRE(f.c.state("t") == txn_state::complete_abort);
    CHECK(f.h.log.back().last_epoch == -1);  // the fence forgets the last epoch
    const auto before = look(f.c);
    CHECK(f.c.init_producer_id("t", tmo, f.now, f.pid, f.ep).code == status::fenced);
    CHECK(look(f.c) == before);
    // The current (fence) epoch as expected: an ordinary bump.
    const auto r = f.c.init_producer_id("t", tmo, f.now, f.pid, static_cast<std::int16_t>(f.ep + 1));
    CHECK(r.code == status::ok);
    CHECK(r.epoch == f.ep + 2);
  }
  SUBCASE("after a timeout abort: the timed-out epoch is fenced") {
    fx f;
    f.to(txn_state::ongoing);
    REQUIRE(f.c.poll(f.now + tmo + 1) == 1);
    f.h.ack_markers(f.c, f.now + tmo + 1);
    REQUIRE(f.c.state("t") == txn_state::complete_abort);
    CHECK(f.c.init_producer_id("t", tmo, f.now + tmo + 2, f.pid, f.ep).code == status::fenced);
  }
  SUBCASE("after a bump with expected: the retry returns the current epoch, any number of times") {
    fx f;
    f.init();
    REQUIRE(f.c.init_producer_id("t", tmo, 2, f.pid, 0).epoch == 1);
    for (std::uint64_t t = 3; t < 6; ++t) {
      const auto r = f.c.init_producer_id("t", tmo, t, f.pid, 0);
      CHECK(r.code == status::ok);
      CHECK(r.epoch == 1);
    }
    // The last epoch survives the transaction (Kafka keeps lastProducerEpoch in every
    // transition): a late retry after a commit still gets the current epoch, and ends nothing.
    REQUIRE(f.c.add_partitions("t", f.pid, 1, 4u, 6) == status::ok);
    REQUIRE(f.c.end_txn("t", f.pid, 1, commit, 6) == status::ok);
    f.h.ack_markers(f.c, 6);
    REQUIRE(f.c.state("t") == txn_state::complete_commit);
    const auto late = f.c.init_producer_id("t", tmo, 7, f.pid, 0);
    CHECK(late.code == status::ok);
    CHECK(late.epoch == 1);
    CHECK(f.c.state("t") == txn_state::empty);
    // While ongoing, a retry is a re-init like any other: fence and abort.
    REQUIRE(f.c.add_partitions("t", f.pid, 1, 4u, 8) == status::ok);
    CHECK(f.c.init_producer_id("t", tmo, 8, f.pid, 0).code == status::concurrent_transactions);
    CHECK(f.c.producer("t").epoch == 2);
  }
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
  // A new value for a partition already there is new: written.
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 4, 11, 800) == status::ok);
  CHECK(f.h.log.size() == n + 2);
  CHECK(f.h.log.back().offset_count == 1);
  CHECK(f.h.log.back().offsets[0].next_offset == 11);
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

TEST_CASE("§3 every (state, request) pair: a defined status; a refusal changes nothing") {
  // Rows: the durable state of "t" (dead = unknown id). Columns: init, init with the current
  // identity as expected, add_partitions, add_offsets, end_txn(commit), end_txn(abort) with the
  // current identity; then add_partitions / add_offsets / end_txn with another epoch (fenced
  // before any state rule) and with another producer id (unknown_producer).
  using S = txn_state;
  const status C = status::concurrent_transactions, O = status::ok, U = status::unknown_producer,
               I = status::invalid_state, F = status::fenced;
  constexpr int n_req = 12;
  struct row {
    S s;
    status want[n_req];
  };
  const row table[] = {
      {S::dead, {O, O, U, U, U, U, U, U, U, U, U, U}},
      {S::empty, {O, O, O, O, I, I, F, F, F, U, U, U}},
      {S::ongoing, {C, C, O, O, O, O, F, F, F, U, U, U}},
      {S::prepare_commit, {C, C, C, C, C, I, F, F, F, U, U, U}},
      {S::prepare_abort, {C, C, C, C, I, C, F, F, F, U, U, U}},
      {S::complete_commit, {O, O, O, O, O, I, F, F, F, U, U, U}},
      {S::complete_abort, {O, O, O, O, I, O, F, F, F, U, U, U}},
  };
  for (const row& r : table)
    for (int req = 0; req < n_req; ++req) {
      CAPTURE(offseq::to_string(r.s));
      CAPTURE(req);
      fx f;
      f.to(r.s);
      // dead: "t" is unknown; the expected identity of req 1 is then ignored only if valid.
      const std::int64_t pid = f.pid < 0 ? 1000 : f.pid;
      const std::int16_t ep = f.ep < 0 ? 0 : f.ep;
      const auto other_ep = static_cast<std::int16_t>(ep + 1);
      const std::int64_t other_pid = pid + 100;
      const auto before = look(f.c);
      const bool unstable = f.c.unstable_offset(1);
      status got = status::not_found;
      switch (req) {
        case 0: got = f.c.init_producer_id("t", tmo, f.now).code; break;
        case 1: got = f.c.init_producer_id("t", tmo, f.now, pid, ep).code; break;
        case 2: got = f.c.add_partitions("t", pid, ep, 8u, f.now); break;
        case 3: got = f.c.add_offsets("t", pid, ep, 1, 3, f.now); break;
        case 4: got = f.c.end_txn("t", pid, ep, commit, f.now); break;
        case 5: got = f.c.end_txn("t", pid, ep, abort_, f.now); break;
        case 6: got = f.c.add_partitions("t", pid, other_ep, 8u, f.now); break;
        case 7: got = f.c.add_offsets("t", pid, other_ep, 1, 3, f.now); break;
        case 8: got = f.c.end_txn("t", pid, other_ep, commit, f.now); break;
        case 9: got = f.c.add_partitions("t", other_pid, ep, 8u, f.now); break;
        case 10: got = f.c.add_offsets("t", other_pid, ep, 1, 3, f.now); break;
        default: got = f.c.end_txn("t", other_pid, ep, abort_, f.now); break;
      }
      CHECK(got == r.want[req]);
      const S after = f.c.state("t");
      if (req <= 1 && r.s == S::ongoing) {
        // The contract's one exception, as Kafka: re-init of an ongoing transaction answers
        // concurrent_transactions but has fenced it (epoch + 1) and started its abort.
        CHECK(after == S::prepare_abort);
        CHECK(f.c.producer("t").epoch == ep + 1);
        CHECK(f.h.log.size() == before.log_size + 1);
      } else if (got != O) {
        CHECK(look(f.c) == before);  // anything but ok changed nothing
        CHECK(f.c.unstable_offset(1) == unstable);
      } else if (r.s != S::dead) {
        // Every accepted change is a valid transition of Kafka's table (retries stay put).
        CHECK((after == r.s || offseq::is_valid_transition(r.s, after)));
      }
    }
}

TEST_CASE("§3 every illegal transition of the table is refused by replay (corrupt) and changes nothing") {
  // The log is the only way to name an arbitrary target state: a record moving "t" from each
  // durable state to each of the 8 states is accepted exactly when the table allows it.
  using S = txn_state;
  const S durable[] = {S::empty, S::ongoing, S::prepare_commit, S::prepare_abort, S::complete_commit, S::complete_abort};
  int refused = 0;
  for (S from : durable)
    for (S to : all_states) {
      CAPTURE(offseq::to_string(from));
      CAPTURE(offseq::to_string(to));
      fx f;
      f.to(from);
      rec r = f.h.log.back();
      r.state = to;
      r.lsn = f.c.next_lsn() + 5;
      if (to != S::ongoing && to != S::prepare_commit && to != S::prepare_abort) {
        r.partition_count = 0;  // outside a transaction the coordinator logs none (else corrupt)
        r.offset_count = 0;
      }
      const auto before = look(f.c);
      const status got = f.c.replay(r);
      // prepare_epoch_fence is never durable: Kafka completes a fence as prepare_abort.
      const bool valid = offseq::is_valid_transition(from, to) && to != S::prepare_epoch_fence;
      if (valid) {
        CHECK(got == status::ok);
        CHECK(f.c.state("t") == to);  // dead: the id is gone
      } else {
        CHECK(got == status::corrupt);
        CHECK(look(f.c) == before);
        ++refused;
      }
    }
  // 16 valid pairs; neither the one from prepare_epoch_fence nor the one into it is durable.
  CHECK(refused == 6 * 8 - 14);
}

TEST_CASE("§3.4 end_txn: ok once prepare_* is durable, markers afterwards, complete_* when all acknowledged") {
  fx f;
  f.init();
  const std::uint32_t parts[] = {10, 11, 12, 13};
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, parts, 4, 2000) == status::ok);
  const std::size_t before = f.h.log.size();
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 2100) == status::ok);
  REQUIRE(f.h.log.size() == before + 1);  // prepare_commit is in the log before end_txn returned
  CHECK(f.h.log.back().state == txn_state::prepare_commit);
  CHECK(f.h.log.back().partition_count == 4);
  CHECK(f.c.state("t") == txn_state::prepare_commit);
  REQUIRE(f.h.sent.size() == 4);
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(f.h.sent[k].partition == parts[k]);
    CHECK(f.h.sent[k].result == commit);
    CHECK(f.h.sent[k].producer_id == f.pid);
    CHECK(f.h.sent[k].epoch == f.ep);
  }
  auto markers = f.h.sent;
  f.h.sent.clear();
  for (std::size_t k = 0; k < 3; ++k) CHECK(f.c.on_markers_written(markers[k], 2200) == status::ok);
  CHECK(f.c.on_markers_written(markers[0], 2200) == status::stale);  // duplicate answer
  CHECK(f.c.state("t") == txn_state::prepare_commit);
  CHECK(f.h.log.size() == before + 1);
  CHECK(f.c.on_markers_written(markers[3], 2300) == status::ok);
  CHECK(f.c.state("t") == txn_state::complete_commit);
  CHECK(f.h.log.back().state == txn_state::complete_commit);
  CHECK(f.h.log.back().partition_count == 0);  // partition set cleared
  CHECK(f.h.log.back().update_ms == 2300);
  CHECK(f.c.on_markers_written(markers[3], 2300) == status::stale);
  // Bad answers: bad slot, wrong producer.
  auto bad = markers[0];
  bad.slot = 99;
  CHECK(f.c.on_markers_written(bad, 1) == status::invalid_argument);
  bad = markers[0];
  bad.producer_id += 1;
  CHECK(f.c.on_markers_written(bad, 1) == status::unknown_producer);
  // A late answer from that transaction does not count for the next one with the same pid/epoch.
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 10u, 3000) == status::ok);
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 3000) == status::ok);
  CHECK(f.c.on_markers_written(markers[0], 3000) == status::stale);
  CHECK(f.c.state("t") == txn_state::prepare_commit);
  CHECK(f.h.ack_markers(f.c, 3001) == 1);
  CHECK(f.c.state("t") == txn_state::complete_commit);
}

TEST_CASE("§3.4 markers: transport failures are retried by poll, nothing is lost") {
  fx f;
  f.init();
  const std::uint32_t parts[] = {1, 2, 3};
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, parts, 3, 1) == status::ok);
  f.h.transport_down = true;
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, abort_, 10) == status::ok);  // the decision is durable
  CHECK(f.h.sent.empty());
  CHECK(f.c.state("t") == txn_state::prepare_abort);
  for (std::uint64_t t = 20; t < 30; ++t) CHECK(f.c.poll(t) >= 3);  // re-sent every poll while failing
  f.h.transport_down = false;
  f.c.poll(30);
  CHECK(f.h.sent.size() == 3);
  // An error answer: re-sent at the next poll; a lost answer: re-sent after marker_retry_ms.
  auto m = f.h.sent;
  f.h.sent.clear();
  CHECK(f.c.on_markers_written(m[0], 31, status::io_error) == status::ok);
  CHECK(f.c.on_markers_written(m[1], 31) == status::ok);
  f.c.poll(32);
  REQUIRE(f.h.sent.size() == 1);
  CHECK(f.h.sent[0].partition == 1);
  f.h.sent.clear();  // lost in transit, as is m[2]
  f.c.poll(33);
  CHECK(f.h.sent.empty());
  f.c.poll(33 + f.c.config().marker_retry_ms);
  CHECK(f.h.sent.size() == 2);  // both unacknowledged ones again
  f.h.ack_markers(f.c, 2000);
  CHECK(f.c.state("t") == txn_state::complete_abort);
}

TEST_CASE("§3.5 timeout: an ongoing transaction past start + timeout is fenced and aborted by poll") {
  fx f;
  f.init();
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 5u, 10000) == status::ok);
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 1, 77, 10000) == status::ok);
  CHECK(f.c.add_partitions("t", f.pid, f.ep, 6u, 10000 + tmo) == status::ok);  // extends, start unchanged
  CHECK(f.c.poll(10000 + tmo) == 0);  // start + timeout == now: not yet
  CHECK(f.c.state("t") == txn_state::ongoing);
  CHECK(f.c.poll(10001 + tmo) == 1);
  CHECK(f.c.state("t") == txn_state::prepare_abort);
  CHECK(f.c.producer("t").epoch == f.ep + 1);
  CHECK(f.h.sent.size() == 2);
  for (const auto& m : f.h.sent) CHECK(m.epoch == f.ep + 1);
  // The old producer is fenced.
  CHECK(f.c.end_txn("t", f.pid, f.ep, commit, 10002 + tmo) == status::fenced);
  CHECK(f.c.add_partitions("t", f.pid, f.ep, 5u, 10002 + tmo) == status::fenced);
  f.h.ack_markers(f.c, 10003 + tmo);
  CHECK(f.c.state("t") == txn_state::complete_abort);
  CHECK(f.h.offsets.empty());  // the timed-out transaction's offsets were dropped
  // A failing log: the abort is retried by the next poll, nothing changes meanwhile.
  fx g;
  g.to(txn_state::ongoing);
  g.h.log_down = true;
  const auto before = look(g.c);
  CHECK(g.c.poll(g.now + tmo + 1) == 1);
  CHECK(look(g.c) == before);
  g.h.log_down = false;
  g.c.poll(g.now + tmo + 2);
  CHECK(g.c.state("t") == txn_state::prepare_abort);
  CHECK(g.c.producer("t").epoch == g.ep + 1);  // one bump, not two
}

TEST_CASE("§3.7 expiry: ids idle in empty/complete_* past the id expiry go dead and free their slot") {
  offseq::txn_config cfg;
  cfg.id_expiry_ms = 5000;
  hooks_t h;
  coord c(h, cfg);
  REQUIRE(c.init_producer_id("e", tmo, 1000).code == status::ok);                      // empty
  const auto o = c.init_producer_id("o", tmo, 1000);                                     // ongoing
  REQUIRE(c.add_partitions("o", o.producer_id, o.epoch, 1u, 1000) == status::ok);
  const auto k = c.init_producer_id("k", tmo, 1000);                                     // complete_commit
  REQUIRE(c.add_partitions("k", k.producer_id, k.epoch, 1u, 1000) == status::ok);
  REQUIRE(c.end_txn("k", k.producer_id, k.epoch, commit, 1000) == status::ok);
  const auto p = c.init_producer_id("p", tmo, 1000);                                     // prepare_abort
  REQUIRE(c.add_partitions("p", p.producer_id, p.epoch, 2u, 1000) == status::ok);
  REQUIRE(c.end_txn("p", p.producer_id, p.epoch, abort_, 1000) == status::ok);
  for (const auto& m : h.sent)
    if (m.partition == 1) REQUIRE(c.on_markers_written(m, 1000) == status::ok);
  h.sent.clear();
  REQUIRE(c.state("k") == txn_state::complete_commit);
  CHECK(c.init_producer_id("x", tmo, 1000).code == status::table_full);
  c.poll(5999);  // idle 4999 ms: kept
  CHECK(c.size() == 4);
  // 5000 ms idle: empty and complete_* expire; ongoing (not timed out yet) and prepare_* stay.
  c.poll(6000);
  CHECK(c.state("e") == txn_state::dead);
  CHECK(c.state("k") == txn_state::dead);
  CHECK(c.state("p") == txn_state::prepare_abort);
  CHECK(c.state("o") == txn_state::ongoing);
  CHECK(c.size() == 2);
  CHECK(h.log.back().state == txn_state::dead);  // tombstones in the log
  CHECK(h.log[h.log.size() - 2].state == txn_state::dead);
  CHECK(c.init_producer_id("x", tmo, 6000).code == status::ok);
  // A re-created id is a new producer.
  const auto e2 = c.init_producer_id("e", tmo, 6000);
  CHECK(e2.code == status::ok);
  CHECK(e2.epoch == 0);
  // Activity refreshes the idle time.
  CHECK(c.init_producer_id("x", tmo, 10000).code == status::ok);
  c.poll(14999);
  CHECK(c.state("x") == txn_state::empty);
  CHECK(c.state("e") == txn_state::dead);
  // A clock earlier than the last update never expires anything.
  c.poll(0);
  CHECK(c.state("x") == txn_state::empty);
}

TEST_CASE("§3.5 fences near the epoch limit: 32767 is the coordinator's; a fence there aborts without a bump") {
  fx f;
  f.init();
  for (int k = 0; k < coord::exhausted_epoch; ++k) REQUIRE(f.c.init_producer_id("t", tmo, 2).code == status::ok);
  REQUIRE(f.c.producer("t").epoch == 32766);
  REQUIRE(f.c.add_partitions("t", f.pid, 32766, 1u, 3) == status::ok);
  // A timeout fence takes the last epoch, which no client bump ever hands out.
  REQUIRE(f.c.poll(3 + tmo + 1) == 1);
  CHECK(f.c.producer("t").epoch == coord::max_epoch);
  f.h.ack_markers(f.c, 3 + tmo + 1);
  REQUIRE(f.c.state("t") == txn_state::complete_abort);
  // The next init rotates to a fresh producer id.
  const auto r = f.c.init_producer_id("t", tmo, 3 + tmo + 2);
  CHECK(r.code == status::ok);
  CHECK(r.producer_id != f.pid);
  CHECK(r.epoch == 0);
  // An ongoing transaction at 32767 (only reachable from a log): the fence keeps the epoch.
  fx g;
  g.to(txn_state::ongoing);
  rec top = g.h.log.back();
  top.epoch = coord::max_epoch;
  top.lsn = g.c.next_lsn();
  hooks_t h2;
  coord c2(h2);
  REQUIRE(c2.recover(&top, 1, g.now) == status::ok);
  REQUIRE(c2.poll(g.now + tmo + 1) == 1);
  CHECK(c2.state("t") == txn_state::prepare_abort);
  CHECK(c2.producer("t").epoch == coord::max_epoch);
  REQUIRE(h2.sent.size() == 1);
  CHECK(h2.sent[0].epoch == coord::max_epoch);
}

TEST_CASE("§3.7 expiry is inclusive (Kafka: lastUpdate <= now - expiry), counted from the last transition") {
  offseq::txn_config cfg;
  cfg.id_expiry_ms = 1000;
  hooks_t h;
  coord c(h, cfg);
  const auto r = c.init_producer_id("t", tmo, 500);
  REQUIRE(r.code == status::ok);
  CHECK(c.poll(1499) == 0);  // idle 999 ms
  CHECK(c.state("t") == txn_state::empty);
  CHECK(c.poll(1500) == 1);  // idle exactly 1000 ms: expired
  CHECK(c.state("t") == txn_state::dead);
  CHECK(h.log.back().state == txn_state::dead);
  CHECK(h.log.back().update_ms == 1500);
  // complete_* counts from the completion (the last marker ack), not from the transaction start.
  const auto k = c.init_producer_id("k", tmo, 2000);
  REQUIRE(c.add_partitions("k", k.producer_id, k.epoch, 1u, 2000) == status::ok);
  REQUIRE(c.end_txn("k", k.producer_id, k.epoch, commit, 2000) == status::ok);
  h.ack_markers(c, 2600);
  REQUIRE(c.state("k") == txn_state::complete_commit);
  CHECK(c.poll(3599) == 0);
  CHECK(c.state("k") == txn_state::complete_commit);
  CHECK(c.poll(3600) == 1);
  CHECK(c.state("k") == txn_state::dead);
}

TEST_CASE("§3.8 pending offsets: applied monotonically on commit, dropped on abort, unstable meanwhile") {
  fx f;
  f.init();
  CHECK_FALSE(f.c.unstable_offset(3));
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 1u, 1) == status::ok);
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 3, 100, 1) == status::ok);
  CHECK(f.c.unstable_offset(3));  // Kafka: UNSTABLE_OFFSET_COMMIT
  CHECK_FALSE(f.c.unstable_offset(4));
  CHECK(f.h.offsets.empty());     // invisible until the commit
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 3, 120, 1) == status::ok);  // last write wins
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 2) == status::ok);
  CHECK(f.h.offsets.at(3) == 120);  // applied with the commit markers
  CHECK_FALSE(f.c.unstable_offset(3));
  f.h.ack_markers(f.c, 3);
  CHECK(f.c.state("t") == txn_state::complete_commit);
  // A later transaction committing a lower offset: the tracker refuses to go back (rule 1.2).
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 3, 90, 4) == status::ok);
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 4) == status::ok);
  CHECK(f.c.state("t") == txn_state::complete_commit);  // stale counts as applied; no partitions
  CHECK(f.h.offsets.at(3) == 120);
  // Abort drops.
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 3, 500, 5) == status::ok);
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, abort_, 5) == status::ok);
  CHECK_FALSE(f.c.unstable_offset(3));
  CHECK(f.c.state("t") == txn_state::complete_abort);
  CHECK(f.h.offsets.at(3) == 120);
  // Applying fails: the commit waits in prepare_commit (offset unstable) and poll retries.
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 3, 130, 6) == status::ok);
  f.h.fail_offset = 2;
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 6) == status::ok);
  CHECK(f.c.state("t") == txn_state::prepare_commit);
  CHECK(f.c.unstable_offset(3));
  f.c.poll(7);
  CHECK(f.c.state("t") == txn_state::prepare_commit);
  f.c.poll(8);
  CHECK(f.c.state("t") == txn_state::complete_commit);
  CHECK(f.h.offsets.at(3) == 130);
}

TEST_CASE("§3.8 pending offsets reach a commit_tracker through the hook") {
  offseq::commit_tracker<4> tracker;
  const auto gen = tracker.assign(2);
  fx f;
  f.h.on_offset = [&](std::uint32_t p, std::int64_t next) { return tracker.commit(p, next, gen); };
  f.init();
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 2, 40, 1) == status::ok);
  CHECK(tracker.committed(2) == 0);
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 1) == status::ok);
  CHECK(tracker.committed(2) == 40);
  CHECK(f.c.state("t") == txn_state::complete_commit);
  // A fenced tracker generation is a failure: retried, the transaction stays prepare_commit.
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 2, 50, 2) == status::ok);
  tracker.revoke(2);
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 2) == status::ok);
  CHECK(f.c.state("t") == txn_state::prepare_commit);
  CHECK(tracker.committed(2) == 40);
}

namespace {
// The CONTRACT's three hooks only (no apply_offset): the coordinator keeps offsets, the caller
// applies them from the prepare_commit records of its log.
using core_hooks_t = offseq::host::txn_memory_core_hooks<rec>;
using core_coord = offseq::txn_coordinator<4, 4, 3, 16, core_hooks_t>;
static_assert(coord::applies_offsets && acoord::applies_offsets, "txn_memory_hooks has apply_offset");
static_assert(!core_coord::applies_offsets, "apply_offset is optional");

// What a caller without apply_offset does: every durable prepare_commit record's offsets go to
// its tracker (commit: monotonic, so a record seen again after recovery is harmless).
template <class Tracker>
void apply_from_log(const std::vector<rec>& log, std::size_t from, Tracker& t, const std::uint32_t* gen) {
  for (std::size_t k = from; k < log.size(); ++k)
    if (log[k].state == txn_state::prepare_commit)
      for (std::size_t j = 0; j < log[k].offset_count; ++j)
        (void)t.commit(log[k].offsets[j].partition, log[k].offsets[j].next_offset, gen[log[k].offsets[j].partition]);
}
}  // namespace

TEST_CASE("§3.8 without apply_offset: offsets are kept in the prepare_commit record, the commit waits for markers only") {
  core_hooks_t h;
  core_coord c(h);
  offseq::commit_tracker<4> tracker;
  std::uint32_t gen[4];
  for (std::size_t p = 0; p < 4; ++p) gen[p] = tracker.assign(p);
  const auto r = c.init_producer_id("t", tmo, 1);
  REQUIRE(r.code == status::ok);
  REQUIRE(c.add_partitions("t", r.producer_id, r.epoch, 7u, 1) == status::ok);
  REQUIRE(c.add_offsets("t", r.producer_id, r.epoch, 2, 40, 1) == status::ok);
  REQUIRE(c.add_offsets("t", r.producer_id, r.epoch, 3, 9, 1) == status::ok);
  CHECK(c.unstable_offset(2));
  REQUIRE(c.end_txn("t", r.producer_id, r.epoch, commit, 2) == status::ok);
  // The decision and its offsets are durable before end_txn returned.
  REQUIRE(h.log.back().state == txn_state::prepare_commit);
  REQUIRE(h.log.back().offset_count == 2);
  CHECK(h.log.back().offsets[0].partition == 2);
  CHECK(h.log.back().offsets[0].next_offset == 40);
  CHECK(h.log.back().offsets[1].next_offset == 9);
  // Still unstable: the coordinator cannot see the caller apply them.
  CHECK(c.unstable_offset(2));
  CHECK(c.unstable_offset(3));
  CHECK(c.poll(3) == 0);  // nothing to retry: markers are out, offsets are not its job
  apply_from_log(h.log, 0, tracker, gen);
  CHECK(tracker.committed(2) == 40);
  CHECK(tracker.committed(3) == 9);
  CHECK(h.ack_markers(c, 4) == 1);
  CHECK(c.state("t") == txn_state::complete_commit);
  CHECK_FALSE(c.unstable_offset(2));
  CHECK(h.log.back().offset_count == 0);

  // A transaction with offsets only completes inside end_txn; the record is in the log all the same.
  const std::size_t mark = h.log.size();
  REQUIRE(c.add_offsets("t", r.producer_id, r.epoch, 2, 55, 5) == status::ok);
  REQUIRE(c.end_txn("t", r.producer_id, r.epoch, commit, 5) == status::ok);
  CHECK(c.state("t") == txn_state::complete_commit);
  apply_from_log(h.log, mark, tracker, gen);
  CHECK(tracker.committed(2) == 55);

  // Abort: the prepare_abort record carries no offsets, so nothing is applied.
  const std::size_t mark2 = h.log.size();
  REQUIRE(c.add_offsets("t", r.producer_id, r.epoch, 2, 99, 6) == status::ok);
  REQUIRE(c.end_txn("t", r.producer_id, r.epoch, abort_, 6) == status::ok);
  CHECK(c.state("t") == txn_state::complete_abort);
  CHECK(h.log[h.log.size() - 2].state == txn_state::prepare_abort);
  CHECK(h.log[h.log.size() - 2].offset_count == 0);
  apply_from_log(h.log, mark2, tracker, gen);
  CHECK(tracker.committed(2) == 55);
}

TEST_CASE("§3.8 without apply_offset: recovery hands the prepare_commit record back, applying it again is harmless") {
  core_hooks_t h;
  core_coord c(h);
  const auto r = c.init_producer_id("t", tmo, 1);
  REQUIRE(c.add_partitions("t", r.producer_id, r.epoch, 7u, 1) == status::ok);
  REQUIRE(c.add_offsets("t", r.producer_id, r.epoch, 1, 70, 1) == status::ok);
  REQUIRE(c.end_txn("t", r.producer_id, r.epoch, commit, 2) == status::ok);
  offseq::commit_tracker<4> tracker;
  std::uint32_t g[4] = {};
  g[1] = tracker.assign(1);
  apply_from_log(h.log, 0, tracker, g);  // applied before the crash
  REQUIRE(tracker.committed(1) == 70);
  // Crash before the markers were answered; the new coordinator resumes prepare_commit.
  core_hooks_t h2;
  core_coord c2(h2);
  REQUIRE(c2.recover(h.log.data(), h.log.size(), 10) == status::ok);
  CHECK(c2.state("t") == txn_state::prepare_commit);
  CHECK(c2.unstable_offset(1));
  CHECK(h2.sent.size() == 1);
  apply_from_log(h.log, 0, tracker, g);  // the caller's recovery pass: stale, nothing moves
  CHECK(tracker.committed(1) == 70);
  h2.ack_markers(c2, 11);
  CHECK(c2.state("t") == txn_state::complete_commit);
  CHECK_FALSE(c2.unstable_offset(1));
}

TEST_CASE("§3.6 recovery: replaying the log restores every id; prepare_* re-send markers, ongoing time out") {
  fx f;
  f.init();  // t: will be prepare_commit
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 1u, 1000) == status::ok);
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 2, 33, 1000) == status::ok);
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 1000) == status::ok);
  const auto o = f.c.init_producer_id("o", tmo, 1000);  // o: ongoing
  REQUIRE(f.c.add_partitions("o", o.producer_id, o.epoch, 4u, 1000) == status::ok);
  const auto a = f.c.init_producer_id("a", tmo, 1000);  // a: prepare_abort
  REQUIRE(f.c.add_partitions("a", a.producer_id, a.epoch, 9u, 1000) == status::ok);
  REQUIRE(f.c.end_txn("a", a.producer_id, a.epoch, abort_, 1000) == status::ok);

  hooks_t h2;
  coord c2(h2);
  REQUIRE(c2.recover(f.h.log.data(), f.h.log.size(), 2000) == status::ok);
  CHECK(c2.size() == 3);
  CHECK(c2.state("t") == txn_state::prepare_commit);
  CHECK(c2.state("o") == txn_state::ongoing);
  CHECK(c2.state("a") == txn_state::prepare_abort);
  CHECK(c2.producer("o").producer_id == o.producer_id);
  CHECK(h2.sent.size() == 2);  // t's commit marker and a's abort marker
  CHECK(h2.offsets.at(2) == 33);
  CHECK(c2.next_lsn() == f.c.next_lsn());
  h2.ack_markers(c2, 2000);
  CHECK(c2.state("t") == txn_state::complete_commit);
  CHECK(c2.state("a") == txn_state::complete_abort);
  CHECK(c2.poll(1000 + tmo) == 0);
  CHECK(c2.poll(1001 + tmo) == 1);
  CHECK(c2.state("o") == txn_state::prepare_abort);
  // The log continues where it left off.
  CHECK(h2.log.front().lsn == f.c.next_lsn());
  // recover needs a fresh coordinator.
  CHECK(c2.recover(f.h.log.data(), f.h.log.size(), 2000) == status::invalid_state);
}

TEST_CASE("§3.6 recovery from a log cut at every record boundary") {
  // A history touching every transition, with ids created, expired and re-created.
  offseq::txn_config cfg;
  cfg.id_expiry_ms = 100000;
  hooks_t h;
  coord c(h, cfg);
  std::vector<std::map<std::string, std::pair<txn_state, std::int16_t>>> truth;  // after each record
  std::uint64_t now = 1000;
  const char* ids[] = {"a", "b", "c"};
  std::mt19937 rng(7);
  auto note = [&] {
    while (truth.size() < h.log.size()) {
      std::map<std::string, std::pair<txn_state, std::int16_t>> m = truth.empty() ? decltype(m){} : truth.back();
      const rec& r = h.log[truth.size()];
      const std::string id(r.id, r.id_length);
      if (r.state == txn_state::dead)
        m.erase(id);
      else
        m[id] = {r.state, r.epoch};
      truth.push_back(m);
    }
  };
  for (int step = 0; step < 150; ++step) {
    now += 50 + rng() % 3000;
    const char* id = ids[rng() % 3];
    const auto pr = c.producer(id);
    switch (rng() % 6) {
      case 0: (void)c.init_producer_id(id, 20000, now); break;
      case 1:
        if (pr.code == status::ok) (void)c.add_partitions(id, pr.producer_id, pr.epoch, static_cast<std::uint32_t>(rng() % 3), now);
        break;
      case 2:
        if (pr.code == status::ok) (void)c.add_offsets(id, pr.producer_id, pr.epoch, 1, static_cast<std::int64_t>(step), now);
        break;
      case 3:
        if (pr.code == status::ok) (void)c.end_txn(id, pr.producer_id, pr.epoch, rng() % 2 ? commit : abort_, now);
        break;
      case 4: h.ack_markers(c, now); break;
      default: c.poll(now + (rng() % 4 == 0 ? 100000 : 0)); break;
    }
    note();
  }
  REQUIRE(h.log.size() > 60);
  std::set<txn_state> seen;
  for (const auto& r : h.log) seen.insert(r.state);
  CHECK(seen.size() == 7);  // empty ongoing prepare_* complete_* dead all logged
  for (std::size_t cut = 0; cut <= h.log.size(); ++cut) {
    CAPTURE(cut);
    hooks_t h2;
    coord c2(h2, cfg);
    REQUIRE(c2.recover(h.log.data(), cut, now) == status::ok);
    const auto expect = cut == 0 ? std::map<std::string, std::pair<txn_state, std::int16_t>>{} : truth[cut - 1];
    CHECK(c2.size() == expect.size());
    for (const char* id : ids) {
      auto it = expect.find(id);
      if (it == expect.end()) {
        CHECK(c2.state(id) == txn_state::dead);
        continue;
      }
      // A resumed prepare_* without data partitions has nothing to wait for: complete at once.
      const txn_state got = c2.state(id);
      const txn_state want = it->second.first;
      CHECK((got == want || (want == txn_state::prepare_commit && got == txn_state::complete_commit) ||
             (want == txn_state::prepare_abort && got == txn_state::complete_abort)));
      CHECK(c2.producer(id).epoch == it->second.second);
    }
    // Resumed transactions finish; timed-out ones abort; the recovered coordinator settles.
    for (int round = 0; round < 4; ++round) {
      h2.ack_markers(c2, now + 100000);
      c2.poll(now + 100000);
    }
    h2.ack_markers(c2, now + 100000);
    for (const char* id : ids) {
      const txn_state s = c2.state(id);
      CHECK((s == txn_state::dead || s == txn_state::empty || s == txn_state::complete_commit ||
             s == txn_state::complete_abort));
    }
  }
}

TEST_CASE("§3.6 recovery: corrupt or out-of-order records are refused and leave the coordinator empty") {
  fx f;
  f.to(txn_state::complete_commit);
  std::vector<rec> log = f.h.log;
  hooks_t h2;
  coord c2(h2);
  auto bad = log;
  bad[1].state = static_cast<txn_state>(9);
  CHECK(c2.recover(bad.data(), bad.size(), 1) == status::corrupt);
  CHECK(c2.size() == 0);
  CHECK(h2.sent.empty());
  bad = log;
  bad[2].state = txn_state::prepare_epoch_fence;
  CHECK(c2.recover(bad.data(), bad.size(), 1) == status::corrupt);
  bad = log;
  bad[1].id_length = 17;
  CHECK(c2.recover(bad.data(), bad.size(), 1) == status::corrupt);
  bad = log;
  bad[1].partition_count = 5;
  CHECK(c2.recover(bad.data(), bad.size(), 1) == status::corrupt);
  bad = log;
  std::swap(bad[1], bad[2]);  // out of order for its id
  CHECK(c2.recover(bad.data(), bad.size(), 1) == status::corrupt);
  bad = log;
  bad[3].state = txn_state::complete_abort;  // prepare_commit -> complete_abort is no transition
  CHECK(c2.recover(bad.data(), bad.size(), 1) == status::corrupt);
  CHECK(c2.size() == 0);
  CHECK(c2.next_lsn() == 1);
  CHECK(c2.recover(nullptr, 1, 1) == status::invalid_argument);
  CHECK(c2.recover(nullptr, 0, 1) == status::ok);
  // More ids than slots.
  hooks_t h3;
  coord c3(h3);
  for (const char* id : {"a", "b", "c", "d"}) REQUIRE(c3.init_producer_id(id, tmo, 1).code == status::ok);
  auto many = h3.log;
  many.push_back(many.back());
  many.back().id[0] = 'z';
  many.back().lsn = 99;
  hooks_t h4;
  coord c4(h4);
  CHECK(c4.recover(many.data(), many.size(), 1) == status::table_full);
  CHECK(c4.size() == 0);
  CHECK(c4.recover(many.data(), 4, 1) == status::ok);
  CHECK(c4.size() == 4);
}

TEST_CASE("hooks: a failing log or allocator at every step changes nothing, and the step can be retried") {
  fx f;
  std::int64_t pid = -1;
  std::int16_t ep = -1;
  auto step = [&](const char* name, status want, auto&& call) {
    CAPTURE(name);
    for (int which = 0; which < 2; ++which) {  // log failure, then a non-io failure status
      f.h.fail_log = 1;
      f.h.log_failure = which == 0 ? status::io_error : status::corrupt;
      const auto before = look(f.c);
      const auto unstable = f.c.unstable_offset(5);
      CHECK(call() == f.h.log_failure);
      CHECK(look(f.c) == before);
      CHECK(f.c.unstable_offset(5) == unstable);
      CHECK(f.h.fail_log == 0);
    }
    f.h.log_failure = status::io_error;
    CHECK(call() == want);
  };
  // New id: the allocator fails, then the log.
  f.h.fail_alloc = 1;
  CHECK(f.c.init_producer_id("t", tmo, 1).code == status::io_error);
  CHECK(f.c.size() == 0);
  step("init new", status::ok, [&] {
    const auto r = f.c.init_producer_id("t", tmo, 1);
    pid = r.producer_id;
    ep = r.epoch;
    return r.code;
  });
  CHECK(f.c.size() == 1);
  step("add_partitions", status::ok, [&] {
    const std::uint32_t ps[] = {1, 2};
    return f.c.add_partitions("t", pid, ep, ps, 2, 2);
  });
  step("add_offsets", status::ok, [&] { return f.c.add_offsets("t", pid, ep, 5, 10, 3); });
  step("end_txn commit", status::ok, [&] { return f.c.end_txn("t", pid, ep, commit, 4); });
  CHECK(f.h.sent.size() == 2);
  // The complete_commit append fails: the state stays prepare_commit, poll appends it later.
  f.h.fail_log = 1;
  f.h.ack_markers(f.c, 5);
  CHECK(f.c.state("t") == txn_state::prepare_commit);
  CHECK(f.h.log.back().state == txn_state::prepare_commit);
  f.c.poll(6);
  CHECK(f.c.state("t") == txn_state::complete_commit);
  step("init bump", status::ok, [&] {
    const auto r = f.c.init_producer_id("t", tmo, 7);
    ep = r.epoch;
    return r.code;
  });
  CHECK(ep == 1);
  step("add_partitions 2", status::ok, [&] { return f.c.add_partitions("t", pid, ep, 3u, 8); });
  step("init fences ongoing", status::concurrent_transactions, [&] { return f.c.init_producer_id("t", tmo, 9).code; });
  CHECK(f.c.producer("t").epoch == 2);
  f.h.ack_markers(f.c, 10);
  CHECK(f.c.state("t") == txn_state::complete_abort);
  step("expiry", 1u == 1u ? status::ok : status::ok, [&] {
    f.c.poll(10 + f.c.config().id_expiry_ms);
    return f.c.state("t") == txn_state::dead ? status::ok : f.h.log_failure;
  });
  CHECK(f.c.size() == 0);
  // Rotation: the allocator fails -> nothing changed.
  fx g;
  g.init();
  for (int k = 0; k < coord::exhausted_epoch; ++k) REQUIRE(g.c.init_producer_id("t", tmo, 2).code == status::ok);
  g.h.fail_alloc = 1;
  const auto before = look(g.c);
  CHECK(g.c.init_producer_id("t", tmo, 3).code == status::io_error);
  CHECK(look(g.c) == before);
  CHECK(g.c.init_producer_id("t", tmo, 3).epoch == 0);
}

TEST_CASE("hooks: asynchronous log — effect only when durable, a failed append changes nothing") {
  ahooks_t h;
  acoord c(h);
  // Creation fails asynchronously: the slot is free again.
  REQUIRE(c.init_producer_id("t", tmo, 1).code == status::ok);
  CHECK(c.size() == 1);
  CHECK(h.complete_log(c, 1, false) == 1);
  CHECK(c.size() == 0);
  CHECK(c.state("t") == txn_state::dead);
  const auto r = c.init_producer_id("t", tmo, 2);
  REQUIRE(r.code == status::ok);
  CHECK(c.on_log_durable(12345, 2) == status::not_found);
  CHECK(c.on_log_failed(12345) == status::not_found);
  h.complete_log(c, 2);
  CHECK(c.state("t") == txn_state::empty);
  CHECK(c.producer("t").producer_id == r.producer_id);
  // add_partitions fails asynchronously: still empty, the next add starts the transaction.
  REQUIRE(c.add_partitions("t", r.producer_id, 0, 1u, 3) == status::ok);
  h.complete_log(c, 3, false);
  CHECK(c.state("t") == txn_state::empty);
  CHECK_FALSE(c.pending("t"));
  REQUIRE(c.add_partitions("t", r.producer_id, 0, 1u, 4) == status::ok);
  h.complete_log(c, 4);
  CHECK(c.state("t") == txn_state::ongoing);
  CHECK(h.log.back().txn_start_ms == 4);
  // A fence in flight shows as prepare_epoch_fence; failed, nothing happened.
  CHECK(c.init_producer_id("t", tmo, 5).code == status::concurrent_transactions);
  CHECK(c.pending_state("t") == txn_state::prepare_epoch_fence);
  CHECK(c.state("t") == txn_state::ongoing);
  CHECK(c.producer("t").epoch == 0);
  h.complete_log(c, 5, false);
  CHECK(c.pending_state("t") == txn_state::ongoing);
  // end_txn: markers only after prepare_commit is durable; complete_commit is appended async too.
  REQUIRE(c.end_txn("t", r.producer_id, 0, commit, 6) == status::ok);
  CHECK(h.sent.empty());
  CHECK(c.state("t") == txn_state::ongoing);
  CHECK(c.end_txn("t", r.producer_id, 0, commit, 6) == status::concurrent_transactions);
  REQUIRE(h.in_flight.size() == 1);
  const auto lsn = h.in_flight[0].lsn;
  h.in_flight.clear();
  CHECK(c.on_log_durable(lsn, 7) == status::ok);
  CHECK(c.state("t") == txn_state::prepare_commit);
  CHECK(h.sent.size() == 1);
  h.ack_markers(c, 8);
  CHECK(c.state("t") == txn_state::prepare_commit);
  CHECK(c.pending_state("t") == txn_state::complete_commit);
  CHECK(c.end_txn("t", r.producer_id, 0, commit, 8) == status::concurrent_transactions);
  CHECK(h.complete_log(c, 9, false) == 1);  // the complete append failed: poll appends it again
  CHECK(c.state("t") == txn_state::prepare_commit);
  c.poll(10);
  h.complete_log(c, 10);
  CHECK(c.state("t") == txn_state::complete_commit);
  CHECK(c.end_txn("t", r.producer_id, 0, commit, 11) == status::ok);
  // An io_error on the append itself: nothing queued.
  h.fail_log = 1;
  CHECK(c.init_producer_id("t", tmo, 12).code == status::io_error);
  CHECK_FALSE(c.pending("t"));
  CHECK(h.in_flight.empty());
}

TEST_CASE("§3.4 + §4 end to end: data is read_committed-visible after its commit marker passes the HW; offsets only on commit") {
  fx f;
  offseq::txn_index<4, 4> out;  // data partition 7
  offseq::commit_tracker<2> group;
  const auto gen = group.assign(0);
  f.h.on_offset = [&](std::uint32_t p, std::int64_t next) { return group.commit(p, next, gen); };
  f.init();
  // Leader side of a marker: write it at the log end, then answer the coordinator.
  std::int64_t log_end = 0;
  auto write_markers = [&](std::uint64_t now) {
    auto ms = f.h.sent;
    f.h.sent.clear();
    for (const auto& m : ms) {
      REQUIRE(out.marker(m.producer_id, m.epoch, log_end++, m.result == commit) == status::ok);
      REQUIRE(f.c.on_markers_written(m, now) == status::ok);
    }
  };
  // A committed transaction: two batches and an offset commit.
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 7u, 1) == status::ok);
  REQUIRE(out.append(f.pid, f.ep, 0, 1) == status::ok);
  REQUIRE(out.append(f.pid, f.ep, 2, 3) == status::ok);
  log_end = 4;
  REQUIRE(out.set_high_watermark(4) == status::ok);
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 0, 10, 1) == status::ok);
  CHECK(out.last_stable_offset() == 0);  // open transaction: nothing readable
  CHECK(group.committed(0) == 0);        // pending offset: invisible
  CHECK(f.c.unstable_offset(0));
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, commit, 2) == status::ok);
  CHECK(group.committed(0) == 10);        // the commit decision is durable: the offset applies
  CHECK(out.last_stable_offset() == 0);   // the data waits for its marker
  write_markers(3);                        // commit marker at offset 4
  CHECK(f.c.state("t") == txn_state::complete_commit);
  CHECK(out.last_stable_offset() == 0);   // marker at the HW: not yet below it
  REQUIRE(out.set_high_watermark(5) == status::ok);
  CHECK(out.last_stable_offset() == 5);
  CHECK_FALSE(out.should_skip(f.pid, 2));
  // An aborted transaction: data skipped by read_committed, its offset never applied.
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 7u, 4) == status::ok);
  REQUIRE(out.append(f.pid, f.ep, 5, 6) == status::ok);
  log_end = 7;
  REQUIRE(f.c.add_offsets("t", f.pid, f.ep, 0, 20, 4) == status::ok);
  REQUIRE(out.set_high_watermark(7) == status::ok);
  CHECK(out.last_stable_offset() == 5);
  REQUIRE(f.c.end_txn("t", f.pid, f.ep, abort_, 5) == status::ok);
  write_markers(6);  // abort marker at offset 7
  REQUIRE(out.set_high_watermark(8) == status::ok);
  CHECK(out.last_stable_offset() == 8);
  CHECK(out.should_skip(f.pid, 5));
  CHECK(out.should_skip(f.pid, 6));
  CHECK_FALSE(out.should_skip(f.pid, 3));
  CHECK(group.committed(0) == 10);
  CHECK_FALSE(f.c.unstable_offset(0));
  // A timed-out transaction: fenced, aborted by poll; the zombie's epoch is refused by the leader.
  REQUIRE(f.c.add_partitions("t", f.pid, f.ep, 7u, 100) == status::ok);
  REQUIRE(out.append(f.pid, f.ep, 8, 8) == status::ok);
  log_end = 9;
  REQUIRE(out.set_high_watermark(9) == status::ok);
  REQUIRE(f.c.poll(100 + tmo + 1) == 1);
  write_markers(100 + tmo + 1);  // abort marker at 9, with the fence epoch
  REQUIRE(out.set_high_watermark(10) == status::ok);
  CHECK(out.last_stable_offset() == 10);
  CHECK(out.should_skip(f.pid, 8));
  CHECK(f.c.add_partitions("t", f.pid, f.ep, 7u, 100 + tmo + 2) == status::fenced);
}

// ------------------------------------------------------------------------------------------
// Randomized test against a reference model (sync log, failures injected into every hook).
// ------------------------------------------------------------------------------------------
namespace {
struct model {
  struct id_state {
    std::size_t slot = 0;
    std::int64_t pid = -1, last_pid = -1;
    std::int16_t epoch = 0, last_epoch = -1;
    txn_state st = txn_state::dead;
    std::vector<std::uint32_t> parts;
    std::vector<std::pair<std::uint32_t, std::int64_t>> offs;
    std::vector<bool> applied;
    std::set<std::uint32_t> acked;
    std::uint32_t gen = 0;
    std::uint64_t start = 0, update = 0;
    std::uint32_t timeout = 0;
  };
  std::map<std::string, id_state> ids;
  std::map<std::uint32_t, std::int64_t> offsets;  // applied
  std::int64_t next_pid = 1000;
  std::uint32_t gen = 0;
  std::uint64_t expiry = 0;
  int fail_log = 0, fail_alloc = 0, fail_offset = 0;

  bool append() {
    if (fail_log > 0) {
      --fail_log;
      return false;
    }
    return true;
  }
  bool slot_used(std::size_t s) const {
    for (const auto& kv : ids)
      if (kv.second.slot == s) return true;
    return false;
  }
  void maybe_complete(id_state& m, std::uint64_t now) {
    if (m.acked.size() != m.parts.size()) return;
    if (m.st == txn_state::prepare_commit)
      for (bool a : m.applied)
        if (!a) return;
    if (!append()) return;
    m.st = m.st == txn_state::prepare_commit ? txn_state::complete_commit : txn_state::complete_abort;
    m.parts.clear();
    m.offs.clear();
    m.applied.clear();
    m.start = 0;
    m.update = now;
  }
  void drive(id_state& m, std::uint64_t now) {
    if (m.st == txn_state::prepare_commit)
      for (std::size_t j = 0; j < m.offs.size(); ++j) {
        if (m.applied[j]) continue;
        if (fail_offset > 0) {
          --fail_offset;
          continue;
        }
        m.applied[j] = true;
        auto it = offsets.find(m.offs[j].first);
        if (it == offsets.end() || it->second < m.offs[j].second) offsets[m.offs[j].first] = m.offs[j].second;
      }
    maybe_complete(m, now);
  }
  void start_markers(id_state& m, std::uint64_t now) {
    m.gen = ++gen;
    m.acked.clear();
    m.applied.assign(m.offs.size(), false);
    drive(m, now);
  }
  status fence(id_state& m, std::uint64_t now) {
    if (!append()) return status::io_error;
    if (m.epoch < 32767) ++m.epoch;
    m.last_epoch = -1;
    m.st = txn_state::prepare_abort;
    m.offs.clear();
    m.update = now;
    start_markers(m, now);
    return status::ok;
  }

  status init(const std::string& id, std::uint32_t timeout, std::uint64_t now, std::int64_t ep_pid, std::int16_t ep_ep) {
    auto it = ids.find(id);
    const bool has = ep_pid >= 0;
    if (it == ids.end()) {
      if (ids.size() >= 4) return status::table_full;
      if (fail_alloc > 0) {
        --fail_alloc;
        return status::io_error;
      }
      const std::int64_t pid = next_pid++;
      if (!append()) return status::io_error;
      id_state m;
      std::size_t s = 0;
      while (slot_used(s)) ++s;
      m.slot = s;
      m.pid = pid;
      m.st = txn_state::empty;
      m.timeout = timeout;
      m.update = now;
      ids[id] = m;
      return status::ok;
    }
    id_state& m = it->second;
    if (has && !(ep_pid == m.pid || (ep_pid == m.last_pid && ep_ep >= 32766))) return status::fenced;
    if (m.st == txn_state::prepare_commit || m.st == txn_state::prepare_abort) return status::concurrent_transactions;
    if (m.st == txn_state::ongoing) {
      const status s = fence(m, now);
      return s == status::ok ? status::concurrent_transactions : s;
    }
    id_state n = m;
    if (m.epoch >= 32766 && (!has || ep_ep == m.epoch)) {
      if (fail_alloc > 0) {
        --fail_alloc;
        return status::io_error;
      }
      n.last_pid = m.pid;
      n.pid = next_pid++;
      n.epoch = 0;
      n.last_epoch = has ? m.epoch : std::int16_t{-1};
    } else if (!has) {
      ++n.epoch;
      n.last_epoch = -1;
    } else if (ep_ep == m.epoch) {
      ++n.epoch;
      n.last_epoch = m.epoch;
    } else if (ep_ep != m.last_epoch) {
      return status::fenced;
    }
    if (!append()) return status::io_error;
    n.st = txn_state::empty;
    n.timeout = timeout;
    n.start = 0;
    n.update = now;
    n.parts.clear();
    n.offs.clear();
    m = n;
    return status::ok;
  }
  status identity(const std::string& id, std::int64_t pid, std::int16_t ep, id_state*& out) {
    auto it = ids.find(id);
    if (it == ids.end() || it->second.pid != pid) return status::unknown_producer;
    if (it->second.epoch != ep) return status::fenced;
    out = &it->second;
    return status::ok;
  }
  status extend(id_state& m, id_state& n, std::uint64_t now) {
    if (m.st == txn_state::ongoing && m.parts == n.parts && m.offs == n.offs) return status::ok;
    if (!append()) return status::io_error;
    if (m.st != txn_state::ongoing) n.start = now;
    n.st = txn_state::ongoing;
    n.update = now;
    m = n;
    return status::ok;
  }
  status add_partitions(const std::string& id, std::int64_t pid, std::int16_t ep, const std::vector<std::uint32_t>& ps,
                        std::uint64_t now) {
    id_state* m = nullptr;
    const status s = identity(id, pid, ep, m);
    if (s != status::ok) return s;
    if (m->st == txn_state::prepare_commit || m->st == txn_state::prepare_abort) return status::concurrent_transactions;
    id_state n = *m;
    for (std::uint32_t p : ps) {
      bool known = false;
      for (std::uint32_t q : n.parts) known = known || q == p;
      if (known) continue;
      if (n.parts.size() >= 4) return status::table_full;
      n.parts.push_back(p);
    }
    return extend(*m, n, now);
  }
  status add_offsets(const std::string& id, std::int64_t pid, std::int16_t ep, std::uint32_t gp, std::int64_t off,
                     std::uint64_t now) {
    id_state* m = nullptr;
    const status s = identity(id, pid, ep, m);
    if (s != status::ok) return s;
    if (m->st == txn_state::prepare_commit || m->st == txn_state::prepare_abort) return status::concurrent_transactions;
    id_state n = *m;
    std::size_t j = 0;
    while (j < n.offs.size() && n.offs[j].first != gp) ++j;
    if (j == n.offs.size()) {
      if (n.offs.size() >= 3) return status::table_full;
      n.offs.emplace_back(gp, off);
    }
    n.offs[j].second = off;
    return extend(*m, n, now);
  }
  status end_txn(const std::string& id, std::int64_t pid, std::int16_t ep, bool cm, std::uint64_t now) {
    id_state* m = nullptr;
    const status s = identity(id, pid, ep, m);
    if (s != status::ok) return s;
    switch (m->st) {
      case txn_state::ongoing: break;
      case txn_state::prepare_commit: return cm ? status::concurrent_transactions : status::invalid_state;
      case txn_state::prepare_abort: return cm ? status::invalid_state : status::concurrent_transactions;
      case txn_state::complete_commit: return cm ? status::ok : status::invalid_state;
      case txn_state::complete_abort: return cm ? status::invalid_state : status::ok;
      default: return status::invalid_state;
    }
    if (!append()) return status::io_error;
    m->st = cm ? txn_state::prepare_commit : txn_state::prepare_abort;
    if (!cm) m->offs.clear();
    m->update = now;
    start_markers(*m, now);
    return status::ok;
  }
  status ack(const offseq::txn_marker& mk, bool ok, std::uint64_t now) {
    for (auto& kv : ids) {
      id_state& m = kv.second;
      if (m.pid != mk.producer_id) continue;
      const txn_state want = mk.result == commit ? txn_state::prepare_commit : txn_state::prepare_abort;
      bool in = false;
      for (std::uint32_t p : m.parts) in = in || p == mk.partition;
      if (m.st != want || m.epoch != mk.epoch || m.gen != mk.generation || !in || m.acked.count(mk.partition))
        return status::stale;
      if (ok) {
        m.acked.insert(mk.partition);
        maybe_complete(m, now);
      }
      return status::ok;
    }
    return status::unknown_producer;
  }
  void poll(std::uint64_t now) {
    std::vector<std::string> order;
    for (std::size_t s = 0; s < 4; ++s)
      for (auto& kv : ids)
        if (kv.second.slot == s) order.push_back(kv.first);
    for (const auto& id : order) {
      id_state& m = ids[id];
      switch (m.st) {
        case txn_state::prepare_commit:
        case txn_state::prepare_abort: drive(m, now); break;
        case txn_state::ongoing:
          if (m.start + m.timeout < now) (void)fence(m, now);
          break;
        default:
          if (now >= m.update && now - m.update >= expiry && append()) ids.erase(id);
          break;
      }
    }
  }
  bool unstable(std::uint32_t gp) const {
    for (const auto& kv : ids) {
      const id_state& m = kv.second;
      for (std::size_t j = 0; j < m.offs.size(); ++j)
        if (m.offs[j].first == gp &&
            (m.st == txn_state::ongoing || (m.st == txn_state::prepare_commit && !m.applied[j])))
          return true;
    }
    return false;
  }
};
}  // namespace

TEST_CASE("randomized: coordinator == reference model, with hook failures; recovery matches at every checkpoint") {
  offseq::txn_config cfg;
  cfg.id_expiry_ms = 40000;
  cfg.marker_retry_ms = 500;
  hooks_t h;
  coord c(h, cfg);
  model m;
  m.expiry = cfg.id_expiry_ms;
  std::mt19937_64 rng(20261123);
  const char* names[] = {"alpha", "beta", "gamma", "delta", "epsilon"};
  std::uint64_t now = 1;
  std::size_t ops = 0, oks = 0, commits = 0, aborts = 0, fences = 0, checkpoints = 0;
  for (int step = 0; step < 6000; ++step) {
    now += rng() % 1500;
    const std::string id = names[rng() % 5];
    // Failure injection for this op only.
    const bool inject = rng() % 6 == 0;
    m.fail_log = h.fail_log = inject && rng() % 2 ? 1 : 0;
    m.fail_alloc = h.fail_alloc = inject && rng() % 2 ? 1 : 0;
    m.fail_offset = h.fail_offset = inject && rng() % 2 ? 1 : 0;
    h.fail_marker = inject ? static_cast<int>(rng() % 3) : 0;
    auto mi = m.ids.find(id);
    std::int64_t pid = mi == m.ids.end() ? 1000 + static_cast<std::int64_t>(rng() % 20) : mi->second.pid;
    std::int16_t ep = mi == m.ids.end() ? 0 : mi->second.epoch;
    if (rng() % 10 == 0) ep = static_cast<std::int16_t>(ep > 0 && rng() % 2 ? ep - 1 : ep + 1);  // stale or future epoch
    if (rng() % 20 == 0) pid += 1;
    const int op = static_cast<int>(rng() % 100);
    status got = status::ok, want = status::ok;
    if (op < 15) {
      const bool was_ongoing = mi != m.ids.end() && mi->second.st == txn_state::ongoing;
      const std::uint32_t timeout = 2000u + static_cast<std::uint32_t>(rng() % 20000);
      std::int64_t xp = -1;
      std::int16_t xe = -1;
      if (mi != m.ids.end() && rng() % 2) {
        xp = mi->second.pid;
        xe = rng() % 3 ? mi->second.epoch : mi->second.last_epoch;
        if (xe < 0) xe = 0;
      }
      want = m.init(id, timeout, now, xp, xe);
      const auto r = c.init_producer_id(id.c_str(), timeout, now, xp, xe);
      got = r.code;
      if (got == status::ok) {
        CHECK(r.producer_id == m.ids[id].pid);
        CHECK(r.epoch == m.ids[id].epoch);
      }
      if (want == status::concurrent_transactions && was_ongoing) ++fences;
    } else if (op < 40) {
      std::vector<std::uint32_t> ps;
      const std::size_t k = 1 + rng() % 3;
      for (std::size_t j = 0; j < k; ++j) ps.push_back(static_cast<std::uint32_t>(rng() % 6));
      want = m.add_partitions(id, pid, ep, ps, now);
      got = c.add_partitions(id.c_str(), pid, ep, ps.data(), ps.size(), now);
    } else if (op < 50) {
      const std::uint32_t gp = static_cast<std::uint32_t>(rng() % 4);
      const std::int64_t off = static_cast<std::int64_t>(rng() % 1000);
      want = m.add_offsets(id, pid, ep, gp, off, now);
      got = c.add_offsets(id.c_str(), pid, ep, gp, off, now);
    } else if (op < 62) {
      const bool cm = rng() % 3 != 0;
      want = m.end_txn(id, pid, ep, cm, now);
      got = c.end_txn(id.c_str(), pid, ep, cm ? commit : abort_, now);
      if (got == status::ok && mi != m.ids.end()) (cm ? commits : aborts)++;
    } else if (op < 85) {
      // The transport answers some markers (some with errors), loses some, keeps the rest.
      std::vector<offseq::txn_marker> batch;
      batch.swap(h.sent);
      std::shuffle(batch.begin(), batch.end(), rng);
      for (const auto& mk : batch) {
        const int fate = static_cast<int>(rng() % 10);
        if (fate < 6) {
          const bool ok = fate != 0;
          const status w = m.ack(mk, ok, now);
          const status g = c.on_markers_written(mk, now, ok ? status::ok : status::io_error);
          CHECK(g == w);
        } else if (fate < 8) {
          h.sent.push_back(mk);  // still in transit
        }                        // else lost: re-sent after marker_retry_ms
      }
    } else {
      if (rng() % 4 == 0) now += 25000;
      m.poll(now);
      c.poll(now);
    }
    ++ops;
    CAPTURE(step);
    CAPTURE(op);
    CAPTURE(id);
    CHECK(got == want);
    oks += got == status::ok ? 1 : 0;
    // Compare every id.
    CHECK(c.size() == m.ids.size());
    for (const char* n : names) {
      auto it = m.ids.find(n);
      const auto pr = c.producer(n);
      if (it == m.ids.end()) {
        CHECK(c.state(n) == txn_state::dead);
        continue;
      }
      CHECK(c.state(n) == it->second.st);
      CHECK(pr.producer_id == it->second.pid);
      CHECK(pr.epoch == it->second.epoch);
    }
    for (std::uint32_t gp = 0; gp < 4; ++gp) CHECK(c.unstable_offset(gp) == m.unstable(gp));
    CHECK(h.offsets == m.offsets);
    // Checkpoint: a coordinator recovered from the log agrees on every id.
    if (step % 200 == 199) {
      ++checkpoints;
      hooks_t h2;
      coord c2(h2, cfg);
      REQUIRE(c2.recover(h.log.data(), h.log.size(), now) == status::ok);
      CHECK(c2.next_lsn() == c.next_lsn());
      for (const char* n : names) {
        CHECK(c2.producer(n).producer_id == c.producer(n).producer_id);
        const txn_state a = c.state(n), b = c2.state(n);
        CHECK((a == b || (a == txn_state::prepare_commit && b == txn_state::complete_commit) ||
               (a == txn_state::prepare_abort && b == txn_state::complete_abort)));
      }
    }
  }
  h.fail_log = h.fail_alloc = h.fail_offset = h.fail_marker = 0;
  MESSAGE("ops " << ops << " ok " << oks << " commits " << commits << " aborts " << aborts << " fences " << fences << " checkpoints "
                 << checkpoints << " log " << h.log.size());
  CHECK(commits > 50);
  CHECK(aborts > 20);
}

TEST_CASE("§3.6 recovery: records the coordinator never writes (repeated partitions, leftovers) are corrupt") {
  rec r{};
  r.lsn = 5;
  r.producer_id = 1000;
  r.last_producer_id = -1;
  r.timeout_ms = tmo;
  r.last_epoch = -1;
  r.id_length = 1;
  r.id[0] = 't';
  SUBCASE("a partition twice: its second marker could never be acknowledged, prepare_commit forever") {
    r.state = txn_state::prepare_commit;
    r.txn_start_ms = 1;
    r.partition_count = 2;
    r.partitions[0] = r.partitions[1] = 3;
    hooks_t h;
    coord c(h);
    if (c.replay(r) == status::ok) {  // show the consequence, then fail
      (void)c.resume(10);
      for (int k = 0; k < 3; ++k) {
        h.ack_markers(c, 10 + static_cast<std::uint64_t>(k) * 5000);
        (void)c.poll(10 + static_cast<std::uint64_t>(k) * 5000);
      }
      CHECK(c.state("t") == txn_state::complete_commit);
    }
    hooks_t h2;
    coord c2(h2);
    CHECK(c2.replay(r) == status::corrupt);
    CHECK(c2.size() == 0);
  }
  SUBCASE("an offsets partition twice") {
    r.state = txn_state::ongoing;
    r.txn_start_ms = 1;
    r.offset_count = 2;
    r.offsets[0] = offseq::txn_offset{10, 4, 0};
    r.offsets[1] = offseq::txn_offset{7, 4, 0};
    hooks_t h;
    coord c(h);
    CHECK(c.replay(r) == status::corrupt);
    CHECK(c.size() == 0);
  }
  SUBCASE("empty/complete_* holding partitions or offsets: the next transaction would inherit them") {
    for (txn_state st : {txn_state::empty, txn_state::complete_commit, txn_state::complete_abort}) {
      CAPTURE(std::string(offseq::to_string(st)));
      r.state = st;
      r.partition_count = 1;
      r.partitions[0] = 9;
      hooks_t h;
      coord c(h);
      if (c.replay(r) == status::ok) {  // show the consequence, then fail
        (void)c.resume(10);
        REQUIRE(c.add_partitions("t", 1000, 0, 3u, 11) == status::ok);
        REQUIRE(c.end_txn("t", 1000, 0, commit, 12) == status::ok);
        for (const auto& m : h.sent) CHECK(m.partition == 3u);  // 9 was never added to this one
      }
      hooks_t h2;
      coord c2(h2);
      CHECK(c2.replay(r) == status::corrupt);
      r.partition_count = 0;
      r.offset_count = 1;
      r.offsets[0] = offseq::txn_offset{10, 4, 0};
      CHECK(c2.replay(r) == status::corrupt);
      CHECK(c2.size() == 0);
      r.offset_count = 0;
      CHECK(c2.replay(r) == status::ok);  // the same record without leftovers
    }
  }
}

TEST_CASE("§3.6 recovery: an lsn at the top of its range is corrupt (next_lsn would wrap to 0, itself corrupt)") {
  fx f;
  f.to(txn_state::empty);
  rec r = f.h.log.back();
  r.lsn = ~std::uint64_t{0};
  hooks_t h;
  coord c(h);
  CHECK(c.replay(r) == status::corrupt);
  CHECK(c.size() == 0);
  CHECK(c.next_lsn() == 1);
  r.lsn = ~std::uint64_t{0} - 1;  // the last usable one
  CHECK(c.replay(r) == status::ok);
  CHECK(c.next_lsn() == ~std::uint64_t{0});
  const auto before = look(c);
  CHECK(c.init_producer_id("t", tmo, 5).code == status::table_full);  // the log sequence is used up
  CHECK(look(c) == before);
}
