// at_least_once: 1,000,000 messages, out-of-order workers on several threads, crashes (state lost, restored from a journal file), rebalances with fencing — lost = 0; the naive "commit what was read" policy loses messages on the same workload.
//
// The pieces (one process; a crash is simulated by stopping every thread and destroying the
// in-memory state):
//   log          P partitions of N/P messages; processed[] counts how often each was handled
//                (the side effect a real consumer would have, e.g. a database write).
//   instances    two consumer instances, each a fetcher thread and two worker threads sharing
//                a queue. The fetcher reads batches from the partitions its instance owns and
//                shuffles them; workers take a few at a time and finish them in any order.
//   tracker      one commit_tracker for the process. offseq policy: a worker calls complete()
//                after handling a message; the fetcher never reads past committed + Window.
//                naive policy: the fetcher commit()s the position it has read (Kafka's
//                auto-commit of the poll position); workers report nothing.
//   committer    every 200 µs: drain() says which positions moved, tracker_log::flush()
//                makes the tracker's snapshot durable in a journal in a temporary file
//                (write + fdatasync; the journal's Storage concept, as flash would be).
//   crashes      at random points: every thread stops where it is, the tracker is destroyed;
//                half of them cut the power in the middle of a flush first (the record in the
//                file is torn). Restart: tracker_log::load() from the file, assign every
//                partition again.
//   rebalances   at random points 1..3 partitions move to the other instance: assign() hands a
//                new generation (the old owner's completions are fenced from then on), the old
//                owner drops what it fetched for them, the new owner reads from committed().
// Checked at the end, per run: every message processed at least once (lost = 0), a durable
// position never lower than one reported durable before (commit regressions = 0), and a final
// restart from the file restoring every partition at its end. Exit status 1 if offseq fails.
// Usage: at_least_once [seed=1] [messages=1000000] [crashes=5] [rebalances=6]
#include <offseq.hpp>
#include <posix_file.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using offseq::status;

namespace {
constexpr std::size_t kPartitions = 8;
constexpr std::size_t kWindow = 128;
constexpr std::size_t kInstances = 2;
constexpr std::size_t kWorkersPerInstance = 2;
constexpr std::int64_t kFetchBatch = 32;
constexpr std::size_t kQueueCap = 512;  // fetched but not yet handled, per instance
constexpr unsigned kWorkSpin = 4096;    // a message's work: up to this many idle loop turns

using tracker_t = offseq::commit_tracker<kPartitions, kWindow>;
using log_t = offseq::tracker_log<tracker_t>;

// The journal's Storage: platform/posix_file.hpp over a temporary file (deleted on exit)
// behind a power switch. cut_after(n) simulates a power cut: the next n bytes of writes land,
// the write in progress stops there (a torn record) and every call fails with io_error until
// power_on().
class file_storage {
 public:
  explicit file_storage(std::size_t size) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr && *dir != 0 ? dir : "/tmp") + "/offseq_at_least_once_XXXXXX";
    const int fd = mkstemp(&path_[0]);
    if (fd >= 0) close(fd);
    if (fd < 0 || file_.open(path_.c_str(), size) != status::ok) {
      std::perror("at_least_once: journal file");
      std::exit(2);
    }
  }
  ~file_storage() {
    file_.close();
    unlink(path_.c_str());
  }
  file_storage(const file_storage&) = delete;
  file_storage& operator=(const file_storage&) = delete;

  std::size_t size() const noexcept { return file_.size(); }
  std::size_t erase_block() const noexcept { return file_.erase_block(); }
  std::size_t program_unit() const noexcept { return file_.program_unit(); }
  status read(std::size_t addr, void* dst, std::size_t n) noexcept {
    return powered_ ? file_.read(addr, dst, n) : status::io_error;
  }
  status write(std::size_t addr, const void* src, std::size_t n) noexcept {
    if (!powered_) return status::io_error;
    if (!cut_armed_ || n <= cut_left_) {
      if (cut_armed_) cut_left_ -= n;
      return file_.write(addr, src, n);
    }
    // The power goes in the middle of this write: only its first cut_left_ bytes land.
    powered_ = false;
    if (cut_left_ != 0) (void)file_.write(addr, src, cut_left_);
    return status::io_error;
  }
  status erase(std::size_t addr, std::size_t n) noexcept {
    if (!powered_) return status::io_error;
    const status s = file_.erase(addr, n);
    if (s == status::ok) ++erases_;
    return s;
  }
  status sync() noexcept { return powered_ ? file_.sync() : status::io_error; }

  void cut_after(std::size_t bytes) noexcept {
    cut_armed_ = true;
    cut_left_ = bytes;
  }
  void power_on() noexcept {
    powered_ = true;
    cut_armed_ = false;
  }
  std::uint64_t erases() const noexcept { return erases_; }

 private:
  offseq::posix::posix_file file_;
  std::string path_;
  bool powered_ = true, cut_armed_ = false;
  std::size_t cut_left_ = 0;
  std::uint64_t erases_ = 0;
};

using journal_t = offseq::journal<file_storage, 512, 8>;

enum class policy { offseq, naive };

std::string grouped(std::uint64_t v) {  // 1016715 -> "1,016,715"
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

struct item {
  std::uint32_t p;
  std::uint32_t gen;
  std::int64_t offset;
};

struct instance {
  std::mutex m;
  std::deque<item> q;
  std::atomic<int> busy{0};  // items taken from q and not finished
};

// Owner and generation of a partition in one word, so that a reader never pairs the owner of
// one assignment with the generation of another.
constexpr std::uint64_t pack(std::size_t owner, std::uint32_t gen) { return (std::uint64_t{owner} << 32) | gen; }
constexpr std::size_t owner_of(std::uint64_t s) { return static_cast<std::size_t>(s >> 32); }
constexpr std::uint32_t gen_of(std::uint64_t s) { return static_cast<std::uint32_t>(s); }

struct result {
  std::uint64_t processed = 0, redelivered = 0, lost = 0, regressions = 0, commits = 0, fenced = 0;
  std::uint64_t crashes = 0, power_cuts = 0, rebalances = 0, moved = 0, compactions = 0, errors = 0;
  bool reload_ok = true;
  double seconds = 0;
};

class run {
 public:
  run(policy pol, std::uint64_t seed, std::int64_t messages, int crashes, int rebalances)
      : pol_(pol),
        per_(messages / static_cast<std::int64_t>(kPartitions)),
        rng_(seed),
        file_(64 * 1024),
        processed_(static_cast<std::size_t>(per_) * kPartitions) {
    for (auto& c : processed_) c.store(0, std::memory_order_relaxed);
    // Events at random points of the progress (sum of committed positions), in random order.
    std::vector<int> kinds(static_cast<std::size_t>(crashes), 0);
    kinds.insert(kinds.end(), static_cast<std::size_t>(rebalances), 1);
    std::shuffle(kinds.begin(), kinds.end(), rng_);
    std::uniform_real_distribution<double> at(0.05, 0.9);
    std::vector<double> points;
    for (std::size_t i = 0; i < kinds.size(); ++i) points.push_back(at(rng_));
    std::sort(points.begin(), points.end());
    for (std::size_t i = 0; i < kinds.size(); ++i)
      events_.push_back({static_cast<std::int64_t>(points[i] * static_cast<double>(total())), kinds[i]});
  }

  result go() {
    const auto t0 = std::chrono::steady_clock::now();
    boot(true);
    start();
    std::size_t next_event = 0;
    auto last_print = t0;
    int quarter = 0;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      const std::int64_t progress = sum_committed();
      if (next_event < events_.size() && progress >= events_[next_event].at) {
        if (events_[next_event].kind == 0) {
          crash();
        } else {
          rebalance();
        }
        ++next_event;
      }
      const auto now = std::chrono::steady_clock::now();
      if (isatty(1) && now - last_print > std::chrono::milliseconds(100)) {
        last_print = now;
        progress_line(progress, '\r');
      } else if (!isatty(1) && progress * 4 >= total() * (quarter + 1) && quarter < 3) {
        ++quarter;
        progress_line(progress, '\n');
      }
      if (now - t0 > std::chrono::seconds(120)) {  // a stuck run fails instead of hanging CI
        std::fprintf(stderr, "at_least_once: no end after 120 s\n");
        ++res_.errors;
      }
      if (finished() || res_.errors != 0 || errors_.load() != 0) break;
    }
    stop_.store(true);
    join();  // the committer's last flush runs on stop
    res_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // A last restart: what the file holds must put every partition at its end.
    boot(false);
    for (std::size_t p = 0; p < kPartitions; ++p) res_.reload_ok &= tracker_->committed(p) == per_;
    for (const auto& c : processed_) {
      const unsigned n = c.load(std::memory_order_relaxed);
      if (n == 0) ++res_.lost;
      res_.processed += n;
      res_.redelivered += n > 1 ? n - 1 : 0;
    }
    if (isatty(1)) std::printf("\r%100s\r", "");
    return res_;
  }

 private:
  struct event {
    std::int64_t at;
    int kind;  // 0 crash, 1 rebalance
  };

  std::int64_t total() const { return per_ * static_cast<std::int64_t>(kPartitions); }
  std::atomic<std::uint16_t>& counter(std::size_t p, std::int64_t o) {
    return processed_[p * static_cast<std::size_t>(per_) + static_cast<std::size_t>(o)];
  }
  std::int64_t sum_committed() const {
    std::int64_t s = 0;
    for (std::size_t p = 0; p < kPartitions; ++p) s += tracker_->committed(p);
    return s;
  }
  bool finished() {
    if (sum_committed() != total()) return false;
    if (pol_ == policy::offseq) return true;
    // naive: everything read; done once the queues are empty.
    for (auto& in : inst_) {
      std::lock_guard<std::mutex> lock(in.m);
      if (!in.q.empty() || in.busy.load() != 0) return false;
    }
    return true;
  }

  void progress_line(std::int64_t progress, char end) {
    std::printf("[%s] %3d%% committed %s  commits %s  crashes %llu  rebalances %llu%c",
                pol_ == policy::offseq ? "offseq" : "naive", static_cast<int>(progress * 100 / total()),
                grouped(static_cast<std::uint64_t>(progress)).c_str(), grouped(commits_.load()).c_str(),
                static_cast<unsigned long long>(res_.crashes), static_cast<unsigned long long>(res_.rebalances), end);
    std::fflush(stdout);
  }

  // (Re)start from the file: a fresh tracker, the journal replayed into it, every partition
  // assigned again to the instance that owned it.
  void boot(bool first) {
    tracker_ = std::make_unique<tracker_t>();
    journal_ = std::make_unique<journal_t>(file_);
    log_ = std::make_unique<log_t>();
    status s = log_t::load(*journal_, *tracker_);
    if (first && s == status::not_found) s = journal_->format();
    if (s == status::corrupt)  // damage (not a torn tail): rewrite what was recovered
      s = journal_->compact([this](journal_t& j) noexcept { return log_->write_snapshot(j, *tracker_); });
    if (s != status::ok) {
      std::fprintf(stderr, "at_least_once: journal boot failed: %s\n", offseq::to_string(s));
      ++res_.errors;
      return;
    }
    for (std::size_t p = 0; p < kPartitions; ++p) {
      const std::int64_t pos = tracker_->committed(p);
      if (pos < durable_[p]) ++res_.regressions;  // a position reported durable came back lower
      seen_[p] = pos;
      const std::size_t owner = first ? p % kInstances : owner_of(state_[p].load());
      state_[p].store(pack(owner, tracker_->assign(p)));
    }
  }

  void start() {
    stop_.store(false);
    crash_.store(false);
    for (auto& in : inst_) {
      in.q.clear();
      in.busy.store(0);
    }
    threads_.emplace_back([this] { committer(); });
    for (std::size_t i = 0; i < kInstances; ++i) {
      threads_.emplace_back([this, i, seed = static_cast<unsigned>(rng_())] { fetcher(i, seed); });
      for (std::size_t w = 0; w < kWorkersPerInstance; ++w)
        threads_.emplace_back([this, i, seed = static_cast<unsigned>(rng_())] { worker(i, seed); });
    }
  }

  void join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void crash() {
    ++res_.crashes;
    if (rng_() % 2 == 0) {
      // Power goes in the middle of the next flush: a torn record in the file.
      cut_at_.store(static_cast<std::int64_t>(rng_() % 160));
      for (int i = 0; i < 200 && !power_lost_.load(); ++i) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    crash_.store(true);  // every thread stops where it is; the tracker is gone
    join();
    if (power_lost_.exchange(false)) ++res_.power_cuts;
    cut_at_.store(-1);
    file_.power_on();
    boot(false);
    start();
  }

  void rebalance() {
    ++res_.rebalances;
    const std::size_t k = 1 + rng_() % 3;
    for (std::size_t n = 0; n < k; ++n) {
      const std::size_t p = rng_() % kPartitions;
      const std::size_t to = 1 - owner_of(state_[p].load());
      // assign() first: from its return on, the old owner's completions are fenced.
      state_[p].store(pack(to, tracker_->assign(p)));
      ++res_.moved;
    }
  }

  void fetcher(std::size_t me, unsigned seed) {
    instance& in = inst_[me];
    tracker_t& t = *tracker_;
    std::uint32_t gen[kPartitions] = {};
    std::int64_t pos[kPartitions] = {};
    std::mt19937 rng(seed);
    std::vector<item> batch;
    while (!stop_.load() && !crash_.load()) {
      bool fetched = false;
      for (std::size_t p = 0; p < kPartitions; ++p) {
        const std::uint64_t s = state_[p].load();
        if (owner_of(s) != me) continue;
        if (gen_of(s) != gen[p]) {  // (re)assigned to us: read from the committed position
          gen[p] = gen_of(s);
          pos[p] = t.committed(p);
        }
        {
          std::lock_guard<std::mutex> lock(in.m);
          if (in.q.size() >= kQueueCap) break;
        }
        // offseq: never past committed + Window (complete() would answer window_full).
        const std::int64_t limit =
            pol_ == policy::offseq ? std::min(per_, t.committed(p) + static_cast<std::int64_t>(kWindow)) : per_;
        batch.clear();
        std::int64_t o = pos[p];
        for (; o < limit && static_cast<std::int64_t>(batch.size()) < kFetchBatch; ++o)
          if (pol_ == policy::naive || !t.is_completed(p, o))  // restored completions: skip them
            batch.push_back({static_cast<std::uint32_t>(p), gen[p], o});
        if (o == pos[p]) continue;
        pos[p] = o;
        fetched = true;
        if (pol_ == policy::naive) (void)t.commit(p, o, gen[p]);  // what was read (fenced if moved)
        std::shuffle(batch.begin(), batch.end(), rng);
        std::lock_guard<std::mutex> lock(in.m);
        in.q.insert(in.q.end(), batch.begin(), batch.end());
      }
      if (!fetched) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  void worker(std::size_t me, unsigned seed) {
    instance& in = inst_[me];
    tracker_t& t = *tracker_;
    std::mt19937 rng(seed);
    item held[4];
    while (!crash_.load()) {
      std::size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(in.m);
        const std::size_t want = 1 + rng() % 4;
        while (n < want && !in.q.empty()) {
          const item it = in.q.front();
          in.q.pop_front();
          // The partition moved since the fetch: drop it (Kafka discards the fetch buffer of a
          // revoked partition); its new owner reads from committed(). What was already taken
          // is finished by this now-zombie owner, and its completions are fenced.
          if (gen_of(state_[it.p].load()) == it.gen) held[n++] = it;
        }
        in.busy.fetch_add(static_cast<int>(n));
      }
      if (n == 0) {
        if (stop_.load()) return;
        std::this_thread::sleep_for(std::chrono::microseconds(20));
        continue;
      }
      std::shuffle(held, held + n, rng);
      for (std::size_t i = 0; i < n && !crash_.load(); ++i) {
        const item& it = held[i];
        for (volatile unsigned spin = static_cast<unsigned>(rng() % kWorkSpin); spin > 0;) spin = spin - 1;  // the work
        counter(it.p, it.offset).fetch_add(1, std::memory_order_relaxed);
        if (pol_ == policy::naive) continue;
        const status s = t.complete(it.p, it.offset, it.gen);
        if (s == status::fenced) {
          fenced_.fetch_add(1);  // a rebalance landed while it ran: the new owner redelivers
        } else if (s != status::ok && s != status::stale) {
          std::fprintf(stderr, "at_least_once: complete(%u, %lld): %s\n", it.p, static_cast<long long>(it.offset),
                       offseq::to_string(s));
          errors_.fetch_add(1);
        }
      }
      in.busy.fetch_sub(static_cast<int>(n));
    }
  }

  void committer() {
    tracker_t& t = *tracker_;
    for (;;) {
      const bool last = stop_.load();
      if (crash_.load()) return;
      std::int64_t before[kPartitions];
      for (std::size_t p = 0; p < kPartitions; ++p) {
        before[p] = t.committed(p);
        if (before[p] < seen_[p]) ++res_.regressions;  // in memory, positions only move up
        seen_[p] = before[p];
      }
      const std::size_t moved = t.drain([](std::size_t, std::int64_t) { return true; });
      if (moved != 0 || last) {
        const std::int64_t cut = cut_at_.exchange(-1);
        if (cut >= 0) file_.cut_after(static_cast<std::size_t>(cut));
        const std::uint64_t erases = file_.erases();
        const status s = log_->flush(*journal_, t);
        if (file_.erases() != erases) ++res_.compactions;
        if (s != status::ok) {  // the power is gone: this process is dead, wait for the crash
          power_lost_.store(true);
          return;
        }
        commits_.fetch_add(1);
        for (std::size_t p = 0; p < kPartitions; ++p) durable_[p] = std::max(durable_[p], before[p]);
      }
      if (last) return;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  const policy pol_;
  const std::int64_t per_;
  std::mt19937_64 rng_;
  file_storage file_;
  std::vector<std::atomic<std::uint16_t>> processed_;
  std::vector<event> events_;
  std::unique_ptr<tracker_t> tracker_;
  std::unique_ptr<journal_t> journal_;
  std::unique_ptr<log_t> log_;
  instance inst_[kInstances];
  std::atomic<std::uint64_t> state_[kPartitions] = {};
  std::int64_t durable_[kPartitions] = {};  // highest position a flush reported durable
  std::int64_t seen_[kPartitions] = {};     // committer's last reading (in-memory monotonicity)
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false}, crash_{false}, power_lost_{false};
  std::atomic<std::int64_t> cut_at_{-1};
  std::atomic<std::uint64_t> commits_{0}, fenced_{0}, errors_{0};
  result res_;

 public:
  result finish(result r) const {
    r.commits = commits_.load();
    r.fenced = fenced_.load();
    r.errors += errors_.load();
    return r;
  }
};

void print(const char* name, const result& r) {
  std::printf("[%s] processed %s redelivered %s lost %s commit regressions %s commits %s (%s/s) fenced %s | crashes %llu "
              "(%llu mid-flush power cuts) rebalances %llu (%llu partitions moved), %.2f s\n",
              name, grouped(r.processed).c_str(), grouped(r.redelivered).c_str(), grouped(r.lost).c_str(),
              grouped(r.regressions).c_str(), grouped(r.commits).c_str(),
              grouped(static_cast<std::uint64_t>(static_cast<double>(r.commits) / r.seconds)).c_str(),
              grouped(r.fenced).c_str(), static_cast<unsigned long long>(r.crashes),
              static_cast<unsigned long long>(r.power_cuts), static_cast<unsigned long long>(r.rebalances),
              static_cast<unsigned long long>(r.moved), r.seconds);
}
}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t seed = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1;
  std::int64_t messages = argc > 2 ? std::strtoll(argv[2], nullptr, 10) : 1000000;
  messages -= messages % static_cast<std::int64_t>(kPartitions);  // equal partitions
  const int crashes = argc > 3 ? std::atoi(argv[3]) : 5;
  const int rebalances = argc > 4 ? std::atoi(argv[4]) : 6;
  if (messages < static_cast<std::int64_t>(kPartitions) || crashes < 0 || rebalances < 0) {
    std::fprintf(stderr, "usage: at_least_once [seed] [messages >= %zu] [crashes] [rebalances]\n", kPartitions);
    return 2;
  }
  std::printf("at_least_once: seed %llu, %s messages in %zu partitions, %zu instances x %zu workers, window %zu\n",
              static_cast<unsigned long long>(seed), grouped(static_cast<std::uint64_t>(messages)).c_str(), kPartitions,
              kInstances, kWorkersPerInstance, kWindow);
  std::printf("durable state: a journal in a 64 KiB temporary file per run (pwrite + fdatasync per commit)\n");
  run a(policy::offseq, seed, messages, crashes, rebalances);
  const result ro = a.finish(a.go());
  print("offseq", ro);
  run b(policy::naive, seed, messages, crashes, rebalances);
  const result rn = b.finish(b.go());
  print("naive", rn);

  bool ok = true;
  if (ro.lost != 0 || ro.regressions != 0 || ro.errors != 0 || !ro.reload_ok) ok = false;
  if (ok) {
    std::printf("offseq: every message processed at least once, no durable position went back, the file restores "
                "every partition at its end.%s\n",
                rn.lost != 0 ? " The naive policy lost messages on the same workload." : "");
  } else {
    std::printf("FAILED: offseq lost %llu, regressions %llu, errors %llu, final reload %s\n",
                static_cast<unsigned long long>(ro.lost), static_cast<unsigned long long>(ro.regressions),
                static_cast<unsigned long long>(ro.errors), ro.reload_ok ? "ok" : "WRONG");
  }
  return ok ? 0 : 1;
}
