// txn_index: the per-partition bookkeeping of one transaction (2 producers interleaved: append 2
// batches each, one commit and one abort marker, HW advance, LSO query, retention) and the
// read_committed queries (aborted ranges of a read, should_skip) over 32 aborted entries.
// Baseline in the same run: the same bookkeeping with std::map (open txns by producer) and
// std::deque (aborted, marker order), what a hosted implementation would write first.
// Summary line: ns per transaction and per query, and the ratios to the baseline.
#include <benchmark/benchmark.h>

#include <offseq.hpp>

#include "ratio.hpp"

#include <cstdio>
#include <deque>
#include <vector>

namespace {
using index_t = offseq::txn_index<8, 64>;

// The baseline: same rules (LSO incl. unreplicated markers, aborted index, retention).
struct map_index {
  struct open_e { std::int64_t first, marker; };
  std::multimap<std::int64_t, open_e> open;  // pid -> entries (open and awaiting the HW)
  std::deque<offseq::aborted_txn> aborted;
  std::int64_t hw = 0, log_start = 0, log_end = 0;

  void append(std::int64_t pid, std::int64_t first, std::int64_t last) {
    auto r = open.equal_range(pid);
    bool found = false;
    for (auto it = r.first; it != r.second; ++it) found |= it->second.marker < 0;
    if (!found) open.emplace(pid, open_e{first, -1});
    log_end = last + 1;
  }
  void marker(std::int64_t pid, std::int64_t off, bool commit) {
    auto r = open.equal_range(pid);
    for (auto it = r.first; it != r.second; ++it)
      if (it->second.marker < 0) {
        if (!commit) aborted.push_back({pid, it->second.first, off});
        it->second.marker = off;
        break;
      }
    log_end = off + 1;
  }
  void set_hw(std::int64_t h) {
    hw = h;
    for (auto it = open.begin(); it != open.end();)
      it = it->second.marker >= 0 && it->second.marker < h ? open.erase(it) : std::next(it);
  }
  void set_log_start(std::int64_t s) {
    log_start = s;
    while (!aborted.empty() && aborted.front().last_offset < s) aborted.pop_front();
  }
  std::int64_t lso() const {
    std::int64_t l = hw;
    for (const auto& kv : open) l = std::min(l, kv.second.first);
    return std::max(l, log_start);
  }
  bool should_skip(std::int64_t pid, std::int64_t o) const {
    for (const auto& a : aborted)
      if (a.producer_id == pid && a.first_offset <= o && o <= a.last_offset) return true;
    return false;
  }
  std::size_t aborted_in(std::int64_t from, std::int64_t end, offseq::aborted_txn* out) const {
    std::size_t n = 0;
    for (const auto& a : aborted)
      if (a.last_offset >= from && a.first_offset < end) out[n++] = a;
    return n;
  }
};

// One transaction round at offset base: pid A commits, pid B aborts, 7 offsets in all.
template <class Append, class Marker>
void round(std::int64_t base, Append&& append, Marker&& marker) {
  append(1, base + 0, base + 0);
  append(2, base + 1, base + 1);
  append(1, base + 2, base + 3);
  append(2, base + 4, base + 4);
  marker(1, base + 5, true);
  marker(2, base + 6, false);
}

void BM_txn_index_transaction(benchmark::State& state) {
  index_t x;
  std::int64_t base = 0, lso = 0;
  for (auto _ : state) {
    round(
        base, [&](std::int64_t p, std::int64_t f, std::int64_t l) { (void)x.append(p, 0, f, l); },
        [&](std::int64_t p, std::int64_t o, bool c) { (void)x.marker(p, 0, o, c); });
    base += 7;
    (void)x.set_high_watermark(base);
    lso += x.last_stable_offset();
    (void)x.set_log_start(base - 7 * 32);  // keep 32 aborted entries (negative early: no-op)
  }
  benchmark::DoNotOptimize(lso);
  if (x.last_stable_offset() != base) state.SkipWithError("LSO did not reach the HW");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_txn_index_transaction);

void BM_baseline_map_transaction(benchmark::State& state) {
  map_index x;
  std::int64_t base = 0, lso = 0;
  for (auto _ : state) {
    round(
        base, [&](std::int64_t p, std::int64_t f, std::int64_t l) { x.append(p, f, l); },
        [&](std::int64_t p, std::int64_t o, bool c) { x.marker(p, o, c); });
    base += 7;
    x.set_hw(base);
    lso += x.lso();
    if (base - 7 * 32 > x.log_start) x.set_log_start(base - 7 * 32);
  }
  benchmark::DoNotOptimize(lso);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_map_transaction);

// 32 aborted entries; a reader asks for the ranges of a 64-offset read, then checks 8 records.
template <class X, class Fill>
void fill32(X& x, Fill&& fill) {
  for (std::int64_t i = 0; i < 32; ++i) fill(x, i);
}

void BM_txn_index_read_queries(benchmark::State& state) {
  index_t x;
  fill32(x, [](index_t& y, std::int64_t i) {
    (void)y.append(i % 4, 0, 7 * i, 7 * i + 5);
    (void)y.marker(i % 4, 0, 7 * i + 6, false);
  });
  (void)x.set_high_watermark(7 * 32);
  offseq::aborted_txn out[64];
  std::int64_t from = 0;
  std::size_t acc = 0;
  for (auto _ : state) {
    std::size_t found = 0;
    (void)x.aborted(from, from + 64, out, 64, found);
    acc += found;
    for (std::int64_t o = from; o < from + 64; o += 8) acc += x.should_skip(o % 4, o) ? 1u : 0u;
    from = (from + 13) % (7 * 32 - 64);
  }
  benchmark::DoNotOptimize(acc);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_txn_index_read_queries);

void BM_baseline_map_read_queries(benchmark::State& state) {
  map_index x;
  fill32(x, [](map_index& y, std::int64_t i) {
    y.append(i % 4, 7 * i, 7 * i + 5);
    y.marker(i % 4, 7 * i + 6, false);
  });
  x.set_hw(7 * 32);
  offseq::aborted_txn out[64];
  std::int64_t from = 0;
  std::size_t acc = 0;
  for (auto _ : state) {
    acc += x.aborted_in(from, from + 64, out);
    for (std::int64_t o = from; o < from + 64; o += 8) acc += x.should_skip(o % 4, o) ? 1u : 0u;
    from = (from + 13) % (7 * 32 - 64);
  }
  benchmark::DoNotOptimize(acc);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_baseline_map_read_queries);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  offseq_bench::ratio_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  auto get = [&](const char* name) { return rep.time(name); };
  const double t = get("BM_txn_index_transaction"), tb = get("BM_baseline_map_transaction");
  const double q = get("BM_txn_index_read_queries"), qb = get("BM_baseline_map_read_queries");
  if (t > 0 && tb > 0 && q > 0 && qb > 0)
    std::printf("txn_index: transaction bookkeeping %.1f ns CPU (baseline std::map/deque %.1f ns, %.2fx faster); "
                "read queries %.1f ns (baseline %.1f ns, %.2fx faster)\n",
                t, tb, tb / t, q, qb, qb / q);
  benchmark::Shutdown();
  return 0;
}
