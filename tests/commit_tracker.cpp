// Commit tracker: SEMANTICS.md §1 and the CONTRACT.md rules, one test case per rule.
#include <doctest/doctest.h>

#include <offseq.hpp>

using offseq::status;

TEST_CASE("commit tracker smoke") {
  offseq::commit_tracker<2> t;
  const auto g = t.assign(0);
  CHECK(g != 0);
  CHECK(t.commit(0, 5, g) == status::ok);
  CHECK(t.committed(0) == 5);
}
