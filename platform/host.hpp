// offseq platform: hosted programs (Linux, macOS, Windows). Not freestanding: uses <mutex>.
#ifndef OFFSEQ_PLATFORM_HOST_HPP
#define OFFSEQ_PLATFORM_HOST_HPP

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "offseq.hpp"

namespace offseq {
namespace host {

/// Guard for critical_section_sync in single-threaded programs and tests: does nothing.
struct no_guard {
  no_guard() noexcept {}
};

/// Guard for critical_section_sync shared by threads: one process-wide mutex. For testing the
/// critical-section path under threads on a host; on an MCU use platform/cortex_m.hpp.
struct mutex_guard {
  mutex_guard() noexcept { mutex().lock(); }
  ~mutex_guard() { mutex().unlock(); }
  mutex_guard(const mutex_guard&) = delete;
  mutex_guard& operator=(const mutex_guard&) = delete;

 private:
  static std::mutex& mutex() noexcept {
    static std::mutex m;
    return m;
  }
};


// ---------------------------------------------------------------- transactions
/// In-memory Hooks for txn_coordinator (tests, benchmarks, host demos). Record is the
/// coordinator's log_record (txn_log_record<P, O, L>); Async selects the asynchronous log
/// (completions delivered by complete_log). Every hook can be made to fail on purpose.
/// Hooks never call back into the coordinator: tests deliver completions with ack_markers /
/// complete_log.
/// txn_memory_core_hooks has only the CONTRACT's three hooks (log, markers, producer ids): its
/// coordinator keeps committed offsets in the log records; txn_memory_hooks adds apply_offset.
template <class Record, bool Async = false>
struct txn_memory_core_hooks {
  static constexpr bool async_log = Async;

  // ---- what the hooks did
  std::vector<Record> log;                    ///< durable records, in order (the write-ahead log)
  std::vector<Record> in_flight;              ///< async: appended, not yet durable/failed
  std::vector<offseq::txn_marker> sent;       ///< markers handed to the transport, not yet answered
  std::int64_t next_producer_id = 1000;       ///< allocator: next id handed out
  std::uint64_t appends = 0, markers_sent = 0;
  bool keep_log = true;                       ///< false: count appends only (benchmarks)

  // ---- failure injection: the next N calls fail (io_error unless set otherwise)
  int fail_log = 0;
  int fail_marker = 0;
  int fail_alloc = 0;
  bool log_down = false, transport_down = false;  ///< every call fails while set
  offseq::status log_failure = offseq::status::io_error;

  offseq::status log_append(const Record& r) noexcept {
    if (log_down || fail_log > 0) {
      if (fail_log > 0) --fail_log;
      return log_failure;
    }
    ++appends;
    if (Async) {
      in_flight.push_back(r);
    } else if (keep_log) {
      log.push_back(r);
    }
    return offseq::status::ok;
  }
  offseq::status send_marker(const offseq::txn_marker& m) noexcept {
    if (transport_down || fail_marker > 0) {
      if (fail_marker > 0) --fail_marker;
      return offseq::status::io_error;
    }
    ++markers_sent;
    sent.push_back(m);
    return offseq::status::ok;
  }
  offseq::status allocate_producer_id(std::int64_t& out) noexcept {
    if (fail_alloc > 0) {
      --fail_alloc;
      return offseq::status::io_error;
    }
    out = next_producer_id++;
    return offseq::status::ok;
  }

  /// Deliver every sent marker's answer (`result`) to the coordinator; returns how many.
  template <class Coordinator>
  std::size_t ack_markers(Coordinator& c, std::uint64_t now_ms, offseq::status result = offseq::status::ok) {
    std::vector<offseq::txn_marker> batch;
    batch.swap(sent);
    for (const auto& m : batch) (void)c.on_markers_written(m, now_ms, result);
    return batch.size();
  }
  /// Async log: make every in-flight append durable (or fail it); returns how many.
  template <class Coordinator>
  std::size_t complete_log(Coordinator& c, std::uint64_t now_ms, bool durable = true) {
    std::size_t n = 0;
    while (!in_flight.empty()) {  // completions may queue further appends (e.g. complete_*)
      std::vector<Record> batch;
      batch.swap(in_flight);
      for (const auto& r : batch) {
        if (durable) {
          if (keep_log) log.push_back(r);
          (void)c.on_log_durable(r.lsn, now_ms);
        } else {
          (void)c.on_log_failed(r.lsn);
        }
        ++n;
      }
      if (!durable) break;
    }
    return n;
  }
};

/// txn_memory_core_hooks plus Hooks::apply_offset into an in-memory map (monotonic, as
/// commit_tracker::commit), optionally forwarded through on_offset.
template <class Record, bool Async = false>
struct txn_memory_hooks : txn_memory_core_hooks<Record, Async> {
  std::map<std::uint32_t, std::int64_t> offsets;  ///< applied offset commits (monotonic)
  std::uint64_t offset_calls = 0;
  int fail_offset = 0;                            ///< the next N apply_offset calls fail
  /// Optional forwarder for applied offsets (e.g. to a commit_tracker); its status is returned.
  std::function<offseq::status(std::uint32_t, std::int64_t)> on_offset;

  offseq::status apply_offset(std::uint32_t p, std::int64_t next) noexcept {
    ++offset_calls;
    if (fail_offset > 0) {
      --fail_offset;
      return offseq::status::io_error;
    }
    if (on_offset) {
      const offseq::status s = on_offset(p, next);
      if (s != offseq::status::ok && s != offseq::status::stale) return s;
    }
    auto it = offsets.find(p);
    if (it != offsets.end() && it->second >= next) return offseq::status::stale;
    offsets[p] = next;
    return offseq::status::ok;
  }
};

}  // namespace host
}  // namespace offseq

#endif  // OFFSEQ_PLATFORM_HOST_HPP
