// Must NOT compile for Cortex-M0/M0+ (ARMv6-M: no LDREX/STREX), must compile for M3/M4/M7.
// `make target-compile-fail` checks both.
#include <offseq.hpp>

offseq::commit_tracker<4, 64, offseq::atomic_sync32> tracker;
int use() { return static_cast<int>(tracker.assign(0)); }
