// journal: durable commits of 64 partitions' positions, one sync per flush, through
// platform/posix_file.hpp (tracker_log: one record of the changed partitions + fdatasync).
// Baseline in the same run: SQLite (WAL, synchronous=FULL, one transaction per flush, an
// offsets(partition PRIMARY KEY, position) table, 64 upserts) doing the same flushes.
// Both on disk (a file in build/bench/) and on tmpfs (/dev/shm: sync costs nothing there, so
// it measures the CPU path). Reported per flush: flushes/s (real time: sync waits are not CPU),
// bytes handed to write(2)/pwrite(2) (wchar of /proc/self/io; the journal's erases included)
// and bytes the kernel accounted to the block device (write_bytes: whole pages; 0 on tmpfs).
// A third side in the same loop and directory, the floor: the cheapest durable flush of the
// journal's bytes (per flush, one pwrite of exactly as many bytes as the journal's flush wrote,
// at increasing offsets of a preallocated file, + fdatasync). floor / SQLite is the best ratio
// any implementation paying one sync per flush could reach on this medium.
// BM_durable_write_path compares other durable write paths with that floor's pwrite+fdatasync.
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <offseq.hpp>
#include <posix_file.hpp>

#include "ratio.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
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

// The floor: the cheapest durable write of n bytes. A file of the journal's size, filled with
// 0xFF and synced first (its blocks allocated and written: no extent conversion, no size or
// block-map change, so fdatasync has no metadata to commit); each flush writes its bytes at
// the next offset (wrapping, split only there) and makes them durable by `mode`.
enum class path_mode : int {
  fdatasync,       // pwrite + fdatasync: the floor (what posix_file does)
  fsync,           // pwrite + fsync
  rwf_dsync,       // pwritev2(..., RWF_DSYNC): the write returns once durable (Linux >= 4.7)
  o_dsync,         // O_DSYNC file: every pwrite returns once durable
  o_direct_dsync,  // O_DIRECT | O_DSYNC, whole aligned 4 KiB pages (a storage would have to
                   // keep the page's other bytes in memory to write them again)
  count
};
const char* const path_names[] = {"pwrite+fdatasync", "pwrite+fsync", "pwritev2 RWF_DSYNC", "O_DSYNC pwrite",
                                  "O_DIRECT|O_DSYNC 4 KiB pages"};

struct floor_side {
  static constexpr std::size_t file_bytes = 256 * 1024;  // the journal's file size
  static constexpr std::size_t page = 4096;
  std::string path;
  path_mode mode = path_mode::fdatasync;
  int fd = -1;
  std::size_t off = 0;
  unsigned char* data = nullptr;  // page-aligned (O_DIRECT)
  bool open(const std::string& p, path_mode m) {
    path = p;
    mode = m;
    data = static_cast<unsigned char*>(std::aligned_alloc(page, file_bytes));
    if (data == nullptr) return false;
    std::memset(data, 0xFF, file_bytes);
    std::remove(path.c_str());
    int f = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return false;
    // Page by page, as posix_file erases: one large write would put the file in the page
    // cache as one large folio (ext4 on recent kernels), and writeback would then write the
    // whole folio (256 KiB) for each small flush.
    bool filled = true;
    for (std::size_t at = 0; at < file_bytes && filled; at += page)
      filled = ::pwrite(f, data + at, page, static_cast<off_t>(at)) == static_cast<ssize_t>(page);
    filled = filled && ::fsync(f) == 0;
    (void)::close(f);
    if (!filled) return false;
    std::memset(data, 0x5A, file_bytes);  // what the flushes write
    int flags = O_RDWR | O_CLOEXEC;
    if (m == path_mode::o_dsync) flags |= O_DSYNC;
    if (m == path_mode::o_direct_dsync) flags |= O_DIRECT | O_DSYNC;
    fd = ::open(path.c_str(), flags);
    return fd >= 0;
  }
  bool put(std::size_t at, std::size_t n) {
    if (mode == path_mode::o_direct_dsync) {  // whole pages around [at, at + n)
      const std::size_t end = (at + n + page - 1) / page * page;
      at = at / page * page;
      n = end - at;
    }
    while (n > 0) {
      ssize_t r;
#ifdef RWF_DSYNC
      if (mode == path_mode::rwf_dsync) {
        iovec v{data + at, n};
        r = ::pwritev2(fd, &v, 1, static_cast<off_t>(at), RWF_DSYNC);
      } else
#endif
        r = ::pwrite(fd, data + at, n, static_cast<off_t>(at));
      if (r <= 0) return false;
      at += static_cast<std::size_t>(r);
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }
  bool flush(std::size_t n) {
#ifndef RWF_DSYNC
    if (mode == path_mode::rwf_dsync) return false;
#endif
    while (n > 0) {
      if (off == file_bytes) off = 0;
      const std::size_t k = std::min(n, file_bytes - off);
      if (!put(off, k)) return false;
      off += k;
      n -= k;
    }
    if (mode == path_mode::fdatasync) return ::fdatasync(fd) == 0;
    if (mode == path_mode::fsync) return ::fsync(fd) == 0;
    return true;  // the write itself was synchronous
  }
  ~floor_side() {
    if (fd >= 0) (void)::close(fd);
    std::free(data);
    if (!path.empty()) std::remove(path.c_str());
  }
};

// The journal's bytes per flush on each medium, measured by BM_flush_journal_vs_sqlite (which
// runs first); BM_durable_write_path writes that many per flush.
double journal_bytes_per_flush[2] = {0, 0};

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

// The three sides in one loop, alternating in batches of 16 flushes, so that all see the same
// disk (the machine is shared: a burst of someone else's I/O hits each, not one); the order
// rotates every iteration, so no side always follows the same one. The floor replays, flush for
// flush, the byte counts of the journal's latest batch (one untimed batch first; so its total
// may differ from the journal's by one batch's bytes, shown side by side). Reports each
// side's flushes/s (real time), bytes per flush, and the medians of per-batch ratios.
void BM_flush_journal_vs_sqlite(benchmark::State& state) {
  const int medium = static_cast<int>(state.range(0));
  const std::string base = location(medium);
  journal_side js;
  sqlite_side ss;
  floor_side fs;
  if (!js.open(base + ".journal") || !ss.open(base + ".sqlite") || !fs.open(base + ".floor", path_mode::fdatasync)) {
    state.SkipWithError("cannot open the journal file, the SQLite database or the floor's file");
    return;
  }
  using clock = std::chrono::steady_clock;
  constexpr int batch = 16;
  std::vector<double> ratios, floor_ratios;
  double t[3] = {0, 0, 0};
  io_counters io[3];
  std::uint64_t jwrites = 0, jsyncs = 0;
  std::int64_t pos = start_position;
  std::size_t bytes[batch];
  for (int k = 0; k < batch; ++k) {
    const std::uint64_t b0 = js.file.bytes_written();
    if (!js.flush(++pos)) {
      state.SkipWithError("flush failed");
      return;
    }
    bytes[k] = static_cast<std::size_t>(js.file.bytes_written() - b0);
  }
  int first = 0;
  for (auto _ : state) {
    double bt[3] = {0, 0, 0};
    const std::uint64_t w0 = js.file.writes(), s0 = js.file.syncs();
    for (int step = 0; step < 3; ++step) {
      const int side = (first + step) % 3;
      const io_counters a = read_io();
      const auto t0 = clock::now();
      for (int k = 0; k < batch; ++k) {
        bool ok;
        if (side == 0) {
          const std::uint64_t b0 = js.file.bytes_written();
          ok = js.flush(pos + k + 1);
          bytes[k] = static_cast<std::size_t>(js.file.bytes_written() - b0);
        } else {
          ok = side == 1 ? ss.flush(pos + k + 1) : fs.flush(bytes[k]);
        }
        if (!ok) {
          state.SkipWithError("flush failed");
          return;
        }
      }
      bt[side] = std::chrono::duration<double>(clock::now() - t0).count();
      const io_counters b = read_io();
      io[side].wchar += b.wchar - a.wchar;
      io[side].write_bytes += b.write_bytes - a.write_bytes;
      t[side] += bt[side];
    }
    jwrites += js.file.writes() - w0;
    jsyncs += js.file.syncs() - s0;
    pos += batch;
    first = (first + 1) % 3;
    ratios.push_back(bt[1] / bt[0]);
    floor_ratios.push_back(bt[1] / bt[2]);
  }
  const double n = static_cast<double>(state.iterations()) * batch;
  std::sort(ratios.begin(), ratios.end());
  std::sort(floor_ratios.begin(), floor_ratios.end());
  state.counters["journal_flushes/s"] = n / t[0];
  state.counters["sqlite_flushes/s"] = n / t[1];
  state.counters["floor_flushes/s"] = n / t[2];
  state.counters["speedup_median"] = ratios.empty() ? 0 : ratios[ratios.size() / 2];
  state.counters["floor_speedup_median"] = floor_ratios.empty() ? 0 : floor_ratios[floor_ratios.size() / 2];
  state.counters["journal_B/flush"] = static_cast<double>(io[0].wchar) / n;
  state.counters["sqlite_B/flush"] = static_cast<double>(io[1].wchar) / n;
  state.counters["floor_B/flush"] = static_cast<double>(io[2].wchar) / n;
  state.counters["journal_devB/flush"] = static_cast<double>(io[0].write_bytes) / n;
  state.counters["sqlite_devB/flush"] = static_cast<double>(io[1].write_bytes) / n;
  state.counters["floor_devB/flush"] = static_cast<double>(io[2].write_bytes) / n;
  state.counters["journal_writes/flush"] = static_cast<double>(jwrites) / n;
  state.counters["journal_syncs/flush"] = static_cast<double>(jsyncs) / n;
  journal_bytes_per_flush[medium] = static_cast<double>(io[0].wchar) / n;
}
// Arg 0: disk (build/bench), 1: tmpfs (/dev/shm). Iterations are batches of 16 per side.
BENCHMARK(BM_flush_journal_vs_sqlite)->Arg(0)->Arg(1)->UseRealTime()->MinTime(3.0);

// Other durable write paths against the floor's pwrite + fdatasync, on disk, in one loop
// (batches of 16 each), each flush writing the journal's bytes per flush as measured above
// (800 if that did not run). Every path here is durable by POSIX/Linux semantics: the call
// returns once the data (and the metadata needed to read it back) is on stable storage, which
// on a drive with a volatile write cache means a cache flush (or FUA) per write. Arg: path_mode;
// fdatasync against itself shows the noise of the ratio.
void BM_durable_write_path(benchmark::State& state) {
  const auto mode = static_cast<path_mode>(state.range(0));
  const std::string base = location(0);
  const double measured = journal_bytes_per_flush[0];
  const std::size_t n = measured > 0 ? static_cast<std::size_t>(measured + 0.5) : 800;
  floor_side ref, alt;
  if (!ref.open(base + ".ref", path_mode::fdatasync) || !alt.open(base + ".alt", mode)) {
    state.SkipWithError("cannot open the files (O_DIRECT unsupported here?)");
    return;
  }
  using clock = std::chrono::steady_clock;
  constexpr int batch = 16;
  std::vector<double> ratios;
  double t[2] = {0, 0};
  for (auto _ : state) {
    double bt[2];
    for (int side = 0; side < 2; ++side) {
      floor_side& f = side == 0 ? ref : alt;
      const auto t0 = clock::now();
      for (int k = 0; k < batch; ++k) {
        if (!f.flush(n)) {
          state.SkipWithError("write or sync failed (RWF_DSYNC unsupported here?)");
          return;
        }
      }
      bt[side] = std::chrono::duration<double>(clock::now() - t0).count();
      t[side] += bt[side];
    }
    ratios.push_back(bt[0] / bt[1]);
  }
  const double flushes = static_cast<double>(state.iterations()) * batch;
  std::sort(ratios.begin(), ratios.end());
  state.counters["ref_flushes/s"] = flushes / t[0];
  state.counters["path_flushes/s"] = flushes / t[1];
  state.counters["speedup_median"] = ratios.empty() ? 0 : ratios[ratios.size() / 2];
  state.counters["B/flush"] = static_cast<double>(n);
}
BENCHMARK(BM_durable_write_path)->DenseRange(0, static_cast<int>(path_mode::count) - 1)->UseRealTime()->MinTime(1.0);

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
  for (int w = 0; w < 2; ++w) {
    const std::string run = "BM_flush_journal_vs_sqlite/" + std::to_string(w);
    auto c = [&](const char* key) { return rep.counter(run, key); };
    if (c("sqlite_flushes/s") <= 0 || c("floor_flushes/s") <= 0) continue;
    const double floor_ratio = c("floor_flushes/s") / c("sqlite_flushes/s");
    std::printf("floor vs SQLite, %s: %.0f vs %.0f flushes/s = %.2fx (median batch %.2fx): the best any "
                "one-sync-per-flush implementation could reach here; goal 3x %s; journal at %.2f of the floor; "
                "floor %.0f bytes per flush (journal %.0f), to the device %.0f; journal %.2f writes, %.3f syncs per flush\n",
                where[w], c("floor_flushes/s"), c("sqlite_flushes/s"), floor_ratio, c("floor_speedup_median"),
                floor_ratio >= 3 ? "within reach" : "OUT OF REACH", c("journal_flushes/s") / c("floor_flushes/s"),
                c("floor_B/flush"), c("journal_B/flush"), c("floor_devB/flush"), c("journal_writes/flush"),
                c("journal_syncs/flush"));
  }
  std::string paths;
  for (int m = 1; m < static_cast<int>(path_mode::count); ++m) {
    const std::string run = "BM_durable_write_path/" + std::to_string(m);
    if (rep.counter(run, "path_flushes/s") <= 0) continue;
    char one[160];
    std::snprintf(one, sizeof one, "%s%s %.2fx (median batch %.2fx)", paths.empty() ? "" : ", ", path_names[m],
                  rep.counter(run, "path_flushes/s") / rep.counter(run, "ref_flushes/s"),
                  rep.counter(run, "speedup_median"));
    paths += one;
  }
  const std::string control = "BM_durable_write_path/0";
  if (!paths.empty())
    std::printf("durable write paths vs pwrite+fdatasync, disk, %.0f bytes per flush (%.0f flushes/s): %s; "
                "control fdatasync vs itself %.2fx (median batch %.2fx); worth an option of posix_file at > 1.3x\n",
                rep.counter(control, "B/flush"), rep.counter(control, "ref_flushes/s"), paths.c_str(),
                rep.counter(control, "path_flushes/s") / rep.counter(control, "ref_flushes/s"),
                rep.counter(control, "speedup_median"));
  benchmark::Shutdown();
  return 0;
}
