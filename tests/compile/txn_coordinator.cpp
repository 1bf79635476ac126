// Compile-only check: the transaction engine as firmware builds it (freestanding, no exceptions,
// no RTTI, -Werror). Built by `make header-check`.
#include <offseq.hpp>

static_assert(offseq::is_valid_transition(offseq::txn_state::ongoing, offseq::txn_state::prepare_abort), "");

int offseq_compile_txn_coordinator() {
  int n = 0;
  for (int i = 0; i < 8; ++i) {
    const auto s = static_cast<offseq::txn_state>(i);
    n += offseq::is_valid_transition(s, offseq::txn_state::empty) ? 1 : 0;
    n += offseq::to_string(s)[0];
  }
  return n;
}
