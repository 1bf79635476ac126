// journal: durable commits of 64 partitions' positions, one sync per flush, through
// platform/posix_file.hpp (tracker_log: one record of the changed partitions + fdatasync).
// Baseline in the same run: SQLite (WAL, synchronous=FULL, one transaction per flush, an
// offsets(partition PRIMARY KEY, position) table, 64 upserts) doing the same flushes.
// Both on disk (a file in build/bench/) and on tmpfs (/dev/shm: sync costs nothing there, so
// it measures the CPU path). Reported per flush: flushes/s (real time: sync waits are not CPU),
// bytes handed to write(2)/pwrite(2) (wchar of /proc/self/io; the journal's erases included)
// and bytes the kernel accounted to the block device (write_bytes: whole pages; 0 on tmpfs).
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <offseq.hpp>
#include <posix_file.hpp>

#include "ratio.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {
constexpr std::size_t partitions = 64;
constexpr std::int64_t start_position = 10000000;  // a realistic offset: 4-byte varints
using tracker = offseq::commit_tracker<partitions, 64>;
using tlog = offseq::tracker_log<tracker>;
using fjournal = offseq::journal<offseq::posix::posix_file, tlog::max_record_bytes, 1>;

struct io_counters {
  std::uint64_t wchar = 0, write_bytes = 0;
};
io_counters read_io() {
  io_counters c;
  if (FILE* f = std::fopen("/proc/self/io", "r")) {
    char key[64];
    unsigned long long v;
    while (std::fscanf(f, "%63[^:]: %llu\n", key, &v) == 2) {
      if (std::strcmp(key, "wchar") == 0) c.wchar = v;
      if (std::strcmp(key, "write_bytes") == 0) c.write_bytes = v;
    }
    std::fclose(f);
  }
  return c;
}

std::string location(int where) {
  if (where == 1) return "/dev/shm/offseq-bench-" + std::to_string(::getpid());
  return "build/bench/offseq-bench-" + std::to_string(::getpid());
}

// The journal side: a 64-partition tracker logged through tracker_log on a posix_file.
struct journal_side {
  std::string path;
  offseq::posix::posix_file file;
  fjournal j{file};
  tracker t;
  tlog log;
  tracker::generation g[partitions];
  bool open(const std::string& p) {
    path = p;
    std::remove(path.c_str());
    if (file.open(path.c_str(), 256 * 1024, 4096) != offseq::status::ok || j.format() != offseq::status::ok) return false;
    for (std::size_t q = 0; q < partitions; ++q) g[q] = t.assign(q);
    return flush(start_position);
  }
  bool flush(std::int64_t pos) {
    for (std::size_t q = 0; q < partitions; ++q) (void)t.commit(q, pos, g[q]);
    return log.flush(j, t) == offseq::status::ok;
  }
  ~journal_side() {
    file.close();
    std::remove(path.c_str());
  }
};

// The baseline: SQLite, WAL, synchronous=FULL, one transaction of 64 upserts per flush.
struct sqlite_side {
  std::string path;
  sqlite3* db = nullptr;
  sqlite3_stmt* up = nullptr;
  bool open(const std::string& p) {
    path = p;
    cleanup();
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return false;
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE offsets(partition INTEGER PRIMARY KEY, position INTEGER NOT NULL);",
                     nullptr, nullptr, nullptr) != SQLITE_OK)
      return false;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO offsets(partition, position) VALUES(?, ?)", -1, &up, nullptr) !=
        SQLITE_OK)
      return false;
    return flush(start_position);
  }
  bool flush(std::int64_t pos) {
    if (sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return false;
    for (std::size_t q = 0; q < partitions; ++q) {
      sqlite3_bind_int64(up, 1, static_cast<sqlite3_int64>(q));
      sqlite3_bind_int64(up, 2, pos);
      if (sqlite3_step(up) != SQLITE_DONE) return false;
      sqlite3_reset(up);
    }
    return sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  void cleanup() {
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
  ~sqlite_side() {
    sqlite3_finalize(up);
    sqlite3_close(db);
    cleanup();
  }
};

// Both sides in one loop, alternating in batches of 16 flushes, so that both see the same
// disk (the machine is shared: a burst of someone else's I/O hits both, not one). Reports
// each side's flushes/s (real time), bytes per flush, and the median of per-batch ratios.
void BM_flush_journal_vs_sqlite(benchmark::State& state) {
  const std::string base = location(static_cast<int>(state.range(0)));
  journal_side js;
  sqlite_side ss;
  if (!js.open(base + ".journal") || !ss.open(base + ".sqlite")) {
    state.SkipWithError("cannot open the journal file or the SQLite database");
    return;
  }
  using clock = std::chrono::steady_clock;
  constexpr int batch = 16;
  std::vector<double> ratios;
  double jt = 0, st = 0;
  io_counters jio, sio;
  std::int64_t pos = start_position;
  for (auto _ : state) {
    double bt[2] = {0, 0};
    for (int side = 0; side < 2; ++side) {
      const io_counters a = read_io();
      const auto t0 = clock::now();
      for (int k = 1; k <= batch; ++k) {
        const bool ok = side == 0 ? js.flush(pos + k) : ss.flush(pos + k);
        if (!ok) {
          state.SkipWithError("flush failed");
          return;
        }
      }
      bt[side] = std::chrono::duration<double>(clock::now() - t0).count();
      const io_counters b = read_io();
      io_counters& acc = side == 0 ? jio : sio;
      acc.wchar += b.wchar - a.wchar;
      acc.write_bytes += b.write_bytes - a.write_bytes;
    }
    pos += batch;
    jt += bt[0];
    st += bt[1];
    ratios.push_back(bt[1] / bt[0]);
  }
  const double n = static_cast<double>(state.iterations()) * batch;
  std::sort(ratios.begin(), ratios.end());
  state.counters["journal_flushes/s"] = n / jt;
  state.counters["sqlite_flushes/s"] = n / st;
  state.counters["speedup_median"] = ratios.empty() ? 0 : ratios[ratios.size() / 2];
  state.counters["journal_B/flush"] = static_cast<double>(jio.wchar) / n;
  state.counters["sqlite_B/flush"] = static_cast<double>(sio.wchar) / n;
  state.counters["journal_devB/flush"] = static_cast<double>(jio.write_bytes) / n;
  state.counters["sqlite_devB/flush"] = static_cast<double>(sio.write_bytes) / n;
}
// Arg 0: disk (build/bench), 1: tmpfs (/dev/shm). Iterations are batches of 16 per side.
BENCHMARK(BM_flush_journal_vs_sqlite)->Arg(0)->Arg(1)->UseRealTime()->MinTime(3.0);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  offseq_bench::ratio_reporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  const char* where[] = {"disk (build/bench/)", "tmpfs (/dev/shm)"};
  for (int w = 0; w < 2; ++w) {
    const std::string run = "BM_flush_journal_vs_sqlite/" + std::to_string(w);
    auto c = [&](const char* key) { return rep.counter(run, key); };
    if (c("sqlite_flushes/s") <= 0 || c("sqlite_B/flush") <= 0) continue;
    std::printf("journal vs SQLite, %s: %.0f vs %.0f flushes/s (%.2fx overall, median batch %.2fx; goal 3x); "
                "%.0f vs %.0f bytes written per flush (%.3f; goal <= 0.25); to the device %.0f vs %.0f\n",
                where[w], c("journal_flushes/s"), c("sqlite_flushes/s"), c("journal_flushes/s") / c("sqlite_flushes/s"),
                c("speedup_median"), c("journal_B/flush"), c("sqlite_B/flush"), c("journal_B/flush") / c("sqlite_B/flush"),
                c("journal_devB/flush"), c("sqlite_devB/flush"));
  }
  benchmark::Shutdown();
  return 0;
}
