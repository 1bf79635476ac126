// Must NOT compile for any Cortex-M: no 64-bit compare-and-swap, std::atomic<uint64_t> would
// call libatomic. `make target-compile-fail` expects the error naming the fix.
#include <offseq.hpp>

offseq::commit_tracker<4, 64, offseq::atomic_sync> tracker;
int use() { return static_cast<int>(tracker.assign(0)); }
