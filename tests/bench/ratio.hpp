// The console reporter every bench in tests/bench uses: it prints what Google Benchmark prints and
// records each run, so that main() can print ratios against a baseline measured in the same run.
//
// Per run it records, in ns per iteration, real time when the run used threads (one thread
// waiting on the other is not CPU) or asked for it (UseRealTime: sync waits are not CPU either),
// CPU time otherwise (the host is shared: a descheduled process gains real time, not CPU time),
// plus the run's user counters. A run is found under
//   - its full name                 "BM_c_tracker_two_threads/repeats:5/real_time/threads:2"
//   - its name before the first '/' "BM_c_tracker_two_threads"
//   - that name and its arguments   "BM_flush_journal_vs_sqlite/0"
// with "_median", "_mean", ... appended for aggregates ("BM_sequence_table_admit_median").
// Under each name it keeps the best (lowest time) of the runs recorded there, with that run's
// counters: on a shared host a repetition is slowed by whatever else runs, so best-of-N against
// best-of-N, both from the same run, is the steadiest comparison. Failed runs are not recorded.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace offseq_bench {

class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  enum class show {
    all,     // everything Google Benchmark would print
    medians  // with repetitions, only the median line (the rest is recorded, not printed)
  };
  explicit ratio_reporter(show s = show::all) : show_(s) {}

  /// ns per iteration of the best run recorded under `name`; 0 if none.
  double time(const std::string& name) const {
    const auto it = runs_.find(name);
    return it == runs_.end() ? 0.0 : it->second.ns;
  }
  /// User counter `key` of that run; 0 if none.
  double counter(const std::string& name, const std::string& key) const {
    const auto it = runs_.find(name);
    if (it == runs_.end()) return 0.0;
    const auto c = it->second.counters.find(key);
    return c == it->second.counters.end() ? 0.0 : c->second;
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown;
    for (const Run& r : runs) {
      if (show_ == show::all || runs.size() == 1 || (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median"))
        shown.push_back(r);
      if (failed(r, 0)) continue;
      const bool real = r.threads > 1 || !r.run_name.time_type.empty();  // "real_time", "manual_time"
      const double t = (real ? r.GetAdjustedRealTime() : r.GetAdjustedCPUTime()) * 1e9 /
                       benchmark::GetTimeUnitMultiplier(r.time_unit);
      std::map<std::string, double> counters;
      for (const auto& kv : r.counters) counters[kv.first] = kv.second.value;
      const std::string agg = r.run_type == Run::RT_Aggregate ? "_" + r.aggregate_name : "";
      const std::string& fn = r.run_name.function_name;
      record(r.benchmark_name(), t, counters);
      record(fn + agg, t, counters);
      if (!r.run_name.args.empty()) record(fn + "/" + r.run_name.args + agg, t, counters);
    }
    ConsoleReporter::ReportRuns(shown);
  }

 private:
  struct entry {
    double ns;
    std::map<std::string, double> counters;
  };
  void record(const std::string& name, double ns, const std::map<std::string, double>& counters) {
    const auto it = runs_.find(name);
    if (it == runs_.end() || ns < it->second.ns) runs_[name] = entry{ns, counters};
  }
  // Google Benchmark 1.7 marks a failed run with error_occurred, 1.8 and later with skipped.
  template <class R>
  static auto failed(const R& r, int) -> decltype(bool(r.error_occurred)) {
    return r.error_occurred;
  }
  template <class R>
  static bool failed(const R& r, long) {
    return r.skipped != 0;
  }

  show show_;
  std::map<std::string, entry> runs_;
};

}  // namespace offseq_bench
