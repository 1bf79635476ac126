// txn_coordinator: a full transaction (init_producer_id, add 4 partitions, end_txn commit, 4
// marker acknowledgements; 4 write-ahead records) with the in-memory hooks of platform/host.hpp.
// Baseline in the same run: copying the transaction's 4 log records into the same in-memory log
// (the payload cost any write-ahead coordinator pays). Summary line: transactions/s and ratio.
#include <benchmark/benchmark.h>

#include <offseq.hpp>
#include <host.hpp>

#include "ratio.hpp"

#include <cstdio>
#include <vector>

namespace {
using record = offseq::txn_log_record<4, 2, 32>;
using hooks_t = offseq::host::txn_memory_hooks<record>;
using coord = offseq::txn_coordinator<16, 4, 2, 32, hooks_t>;

void BM_full_transaction(benchmark::State& state) {
  hooks_t h;
  h.log.reserve(8192);
  h.sent.reserve(16);
  coord c(h);
  const std::uint32_t parts[] = {1, 2, 3, 4};
  std::uint64_t now = 1;
  std::int64_t done = 0;
  for (auto _ : state) {
    const auto r = c.init_producer_id("bench-pipeline", 60000, now);
    c.add_partitions("bench-pipeline", r.producer_id, r.epoch, parts, 4, now);
    c.end_txn("bench-pipeline", r.producer_id, r.epoch, offseq::txn_result::commit, now);
    for (const auto& m : h.sent) c.on_markers_written(m, now);
    h.sent.clear();
    done += c.state("bench-pipeline") == offseq::txn_state::complete_commit ? 1 : 0;
    if (h.log.size() > 8000) h.log.clear();
    ++now;
  }
  if (done != static_cast<std::int64_t>(state.iterations())) state.SkipWithError("a transaction did not complete");
  state.SetItemsProcessed(state.iterations());
  state.counters["txn/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["log_records/txn"] = static_cast<double>(h.appends) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_full_transaction);

void BM_baseline_copy_4_records(benchmark::State& state) {
  std::vector<record> log;
  log.reserve(8192);
  record r{};
  for (auto _ : state) {
    for (int k = 0; k < 4; ++k) {
      ++r.lsn;
      benchmark::DoNotOptimize(&r);
      log.push_back(r);
    }
    benchmark::ClobberMemory();
    if (log.size() > 8000) log.clear();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_copy_4_records);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  offseq_bench::ratio_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  const double t = rep.time("BM_full_transaction"), b = rep.time("BM_baseline_copy_4_records");
  if (t > 0 && b > 0)
    std::printf("txn_coordinator: full transaction %.0f ns CPU = %.2f M txn/s; %.1fx the baseline of copying its 4 log "
                "records (%.0f ns CPU); sizeof(coordinator<16,4,2,32>) = %zu, slot = %zu, record = %zu bytes\n",
                t, 1e3 / t, t / b, b, sizeof(coord), coord::slot_size, sizeof(record));
  benchmark::Shutdown();
  return 0;
}
