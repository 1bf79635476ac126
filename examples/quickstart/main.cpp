// examples/quickstart/main.cpp: `make test` checks that this README block equals the file, and runs it.
#include <offseq.hpp>

#include <cstdio>

offseq::commit_tracker<4> tracker;  // 4 partitions, Window = 64, lock-free, no heap, constant-initialized

int main() {
  tracker.restore(0, 100);                   // boot: partition 0's persisted position
  const auto gen = tracker.assign(0);        // this consumer owns partition 0 now
  tracker.complete(0, 102, gen);             // workers finish out of order (any thread, or an ISR)
  tracker.complete(0, 101, gen);
  std::printf("committed %lld\n", static_cast<long long>(tracker.committed(0)));  // 100: offset 100 still running
  tracker.complete(0, 100, gen);
  std::printf("committed %lld\n", static_cast<long long>(tracker.committed(0)));  // 103
  tracker.drain([](std::size_t p, std::int64_t pos) {  // on a timer: persist what moved
    std::printf("persist partition %zu at %lld\n", p, static_cast<long long>(pos));
  });
  const auto next = tracker.assign(0);       // rebalance: a new owner fences the old one
  const bool fenced = tracker.complete(0, 103, gen) == offseq::status::fenced;
  std::printf("old owner fenced: %s\n", fenced ? "yes" : "no");
  return fenced && tracker.complete(0, 103, next) == offseq::status::ok ? 0 : 1;
}
