// Transactions: SEMANTICS.md §3 (Kafka's TransactionCoordinator / TransactionMetadata), one
// test case per rule, plus the contract edges of txn_coordinator.
#include <doctest/doctest.h>

#include <offseq.hpp>
#include <host.hpp>

#include <cstdint>
#include <cstring>
#include <string>

using offseq::status;
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
