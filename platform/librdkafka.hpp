// offseq platform: bindings to librdkafka, the Kafka client people already run (Debian
// librdkafka-dev; link with -lrdkafka). HOSTED: uses the standard library, threads and
// librdkafka; the core header include/offseq.hpp stays freestanding and never includes this.
//
//   kafka::to_status(err)       every rd_kafka_resp_err_t as an offseq::status
//   kafka::consumer<Tracker>    a consumer-group member that commits only processed offsets
//                               (commit_tracker), with workers finishing out of order
//   kafka::gateway<Table>       the receiver side of device links: each device batch admitted
//                               once (sequence_table), forwarded with the idempotent producer,
//                               acknowledged to the device only after Kafka acknowledged it
//   kafka::producer_journal     the gateway's tables through offseq::journal + producer_log
//
// Threads: consumer::complete may be called from any thread; every other consumer method, and
// every gateway method, from one thread (the one that polls). Callbacks (rebalance, delivery
// reports, acks, persistence) run inside poll() on that thread.
#ifndef OFFSEQ_PLATFORM_LIBRDKAFKA_HPP
#define OFFSEQ_PLATFORM_LIBRDKAFKA_HPP

#include <offseq.hpp>

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace offseq {
namespace kafka {

// ============================================================================================
// Errors
// ============================================================================================

/// The offseq status for a librdkafka / Kafka error code. Grouped by what the caller does next:
/// fenced (another owner or producer epoch took over: stop), invalid_state (a rebalance or the
/// client's state refused it now: keep it pending, retry later), not_found, invalid_argument,
/// corrupt, the sequence cases, and io_error for everything transient (transport, timeouts,
/// coordinator moves, leader changes): retry.
constexpr status to_status(rd_kafka_resp_err_t e) noexcept {
  switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: return status::ok;
    // Another member or producer instance owns it now (Kafka ILLEGAL_GENERATION & co).
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR_TRANSACTION_COORDINATOR_FENCED:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
      return status::fenced;
    case RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER: return status::duplicate;
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER: return status::out_of_order;
    case RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING:
      return status::unknown_producer;
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:  // offsets of an open transaction pending
      return status::concurrent_transactions;
    // Not allowed now: a commit during a rebalance, a call in the wrong client state.
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_INVALID_TXN_STATE:
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
      return status::invalid_state;
    // Back-pressure: the client's queue is full; retry after delivery reports drained it.
    case RD_KAFKA_RESP_ERR__QUEUE_FULL: return status::window_full;
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR__UNKNOWN_GROUP:
    case RD_KAFKA_RESP_ERR__NOENT:
    case RD_KAFKA_RESP_ERR__NO_OFFSET:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      return status::not_found;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUEST:
    case RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT:
    case RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR_INVALID_SESSION_TIMEOUT:
    case RD_KAFKA_RESP_ERR_INVALID_COMMIT_OFFSET_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
      return status::invalid_argument;
    case RD_KAFKA_RESP_ERR_INVALID_MSG:  // Kafka CORRUPT_MESSAGE (2): CRC mismatch
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR__BAD_COMPRESSION:
      return status::corrupt;
    default:
      return status::io_error;
  }
}

/// For librdkafka's error objects (transactional API): the code's status. Ask the object
/// itself whether it is fatal, retriable or requires an abort.
inline status to_status(const rd_kafka_error_t* e) noexcept {
  return e == nullptr ? status::ok : to_status(rd_kafka_error_code(e));
}

namespace detail {
inline std::uint64_t now_ms() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}
struct list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const noexcept { rd_kafka_topic_partition_list_destroy(l); }
};
using list_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, list_deleter>;
inline list_ptr make_list(int n) { return list_ptr(rd_kafka_topic_partition_list_new(n)); }

inline bool set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v, std::string* err) {
  char buf[512];
  if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), buf, sizeof buf) == RD_KAFKA_CONF_OK) return true;
  if (err) *err = k + ": " + buf;
  return false;
}
}  // namespace detail

/// Properties shared by both bindings: bootstrap.servers plus any librdkafka property.
using properties = std::vector<std::pair<std::string, std::string>>;

namespace detail {
// One client: the binding's properties, then the user's extras (later wins), the binding as
// opaque, install(conf) for its callbacks. nullptr (reason in *err) if librdkafka refuses.
template <class Install>
rd_kafka_t* make_client(rd_kafka_type_t type, properties props, const properties& extra, void* opaque,
                        Install&& install, std::string* err) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  props.insert(props.end(), extra.begin(), extra.end());
  for (const auto& kv : props)
    if (!set(conf, kv.first, kv.second, err)) {
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  rd_kafka_conf_set_opaque(conf, opaque);
  install(conf);
  char buf[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, buf, sizeof buf);  // takes conf on success
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    if (err) *err = buf;
  }
  return rk;
}
}  // namespace detail

// ============================================================================================
// Consumer
//
// Pitfalls this binding handles (README "Kafka"):
//  - Fetch from the restored offset. On assignment it reads the group's committed offsets,
//    restore()s and assign()s each partition in the tracker and starts librdkafka at exactly
//    that offset (rd_kafka_assign with explicit offsets), so the tracker's floor and the fetch
//    position agree. Without a committed offset it fetches from the beginning and anchors the
//    tracker at the first delivered offset.
//  - Gaps. Transaction markers, compaction and aborted records leave offsets that are never
//    delivered; when the next delivered offset jumps, the gap is complete_range()d, or the
//    floor would wait forever at the first missing offset.
//  - Commits refused during a rebalance (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION) keep the
//    partition pending (drain's sink returns false): the next commit() retries it.
//  - Revocation. In-flight work of a revoked partition gets revoke_wait_ms to finish; what it
//    finished is committed, then the partition is revoke()d in the tracker, which fences the
//    stragglers (their complete() answers fenced and changes nothing).
//  - Resets. If the fetch goes back by itself (auto.offset.reset after OFFSET_OUT_OF_RANGE: a
//    log truncated or recreated below the committed offset), the tracker follows with reset()
//    and a new generation instead of dropping every record below its floor forever.
//  - Window. A record at or beyond committed + Window is not handed out (complete would answer
//    window_full): it is held, the partition paused, and released once the floor has moved.
// ============================================================================================

struct consumer_config {
  std::string brokers;              ///< bootstrap.servers
  std::string group;                ///< group.id
  std::vector<std::string> topics;  ///< subscription
  int session_timeout_ms = 6000;
  int revoke_wait_ms = 5000;        ///< how long a revocation waits for in-flight work
  int rpc_timeout_ms = 5000;        ///< committed() lookups and synchronous commits
  properties extra;                 ///< any other librdkafka property
};

/// One delivered message, handed to a worker. Self-contained (copies), so it may outlive the
/// poll call and be completed from any thread.
struct record {
  std::size_t slot;       ///< tracker partition index
  std::string topic;
  std::int32_t partition;
  std::int64_t offset;
  std::uint32_t generation;
  std::string key, value;
};

/// Counters (read from the poll thread).
struct consumer_stats {
  std::uint64_t delivered = 0;      ///< records handed out
  std::uint64_t gaps = 0;           ///< offset jumps reported with complete_range
  std::uint64_t gap_offsets = 0;
  std::uint64_t commits = 0;        ///< partitions committed
  std::uint64_t commit_failures = 0;  ///< partitions whose commit failed (kept pending)
  std::uint64_t parked = 0;         ///< records held because the window was full
  std::uint64_t assigns = 0, revokes = 0;
  std::uint64_t resets = 0;         ///< the fetch position went back (auto.offset.reset): tracker reset()
  std::uint64_t fenced = 0;         ///< complete() answered fenced (straggler of a revoked owner)
};

template <class Tracker>
class consumer {
 public:
  /// Called after each successful commit of a partition (topic, partition, committed offset).
  using commit_observer = std::function<void(const std::string&, std::int32_t, std::int64_t)>;

  consumer(Tracker& tracker, consumer_config cfg) : t_(tracker), cfg_(std::move(cfg)), slots_(Tracker::partitions()) {}
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;
  ~consumer() {
    if (rk_) close();
  }

  /// Creates the librdkafka consumer and subscribes. Sets what the binding relies on:
  /// enable.auto.commit=false (only commit() commits), enable.auto.offset.store=false,
  /// auto.offset.reset=earliest (a partition without a commit starts at its beginning).
  status start(std::string* error = nullptr) {
    if (rk_) return status::invalid_state;
    const properties props = {{"bootstrap.servers", cfg_.brokers},
                              {"group.id", cfg_.group},
                              {"enable.auto.commit", "false"},
                              {"enable.auto.offset.store", "false"},
                              {"auto.offset.reset", "earliest"},
                              {"session.timeout.ms", std::to_string(cfg_.session_timeout_ms)},
                              {"heartbeat.interval.ms", std::to_string(cfg_.session_timeout_ms / 4 > 0 ? cfg_.session_timeout_ms / 4 : 1)}};
    rk_ = detail::make_client(
        RD_KAFKA_CONSUMER, props, cfg_.extra, this,
        [](rd_kafka_conf_t* c) { rd_kafka_conf_set_rebalance_cb(c, &consumer::rebalance_trampoline); }, error);
    if (!rk_) return status::invalid_argument;
    rd_kafka_poll_set_consumer(rk_);
    detail::list_ptr topics = detail::make_list(static_cast<int>(cfg_.topics.size()));
    for (const auto& tp : cfg_.topics) rd_kafka_topic_partition_list_add(topics.get(), tp.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics.get());
    if (e) {
      if (error) *error = rd_kafka_err2str(e);
      return to_status(e);
    }
    return status::ok;
  }

  /// Waits up to timeout_ms for one message and hands it to handler(record&&) (after releasing
  /// held records that fit the window again). Runs rebalance callbacks. Returns how many
  /// records were handed out. A client error is kept in last_error().
  template <class Handler>
  std::size_t poll(int timeout_ms, Handler&& handler) {
    if (!rk_) return 0;
    std::size_t n = release_parked(handler);
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
    if (!m) return n;
    struct guard {
      rd_kafka_message_t* m;
      ~guard() { rd_kafka_message_destroy(m); }
    } g{m};
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) last_error_ = to_status(m->err);
      return n;
    }
    const std::string topic = rd_kafka_topic_name(m->rkt);
    const auto it = index_.find({topic, m->partition});
    if (it == index_.end()) return n;
    slot_state& s = slots_[it->second];
    // Not ours (revoked meanwhile), or held: everything behind a held record is fetched again.
    if (!s.owned || s.held) return n;
    record r{it->second, topic, m->partition, m->offset, s.generation, {}, {}};
    if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) r.value.assign(static_cast<const char*>(m->payload), m->len);
    if (!s.anchored) anchor(r.slot, s, m->offset);
    r.generation = s.generation;
    if (m->offset < s.next_expected) {
      // The fetch went back on its own: auto.offset.reset after OFFSET_OUT_OF_RANGE (the log
      // was truncated or recreated below the committed offset). Follow it explicitly: reset()
      // is the tracker's only way back, and the new generation fences work handed out before.
      ++stats_.resets;
      wait_inflight(s);
      t_.reset(r.slot, m->offset);
      s.generation = t_.assign(r.slot);
      r.generation = s.generation;
      s.next_expected = m->offset;
      s.committed = -1;
    }
    if (m->offset > s.next_expected) {
      // A gap (markers, compaction, aborted records): nothing will ever be delivered there.
      const status st = t_.complete_range(r.slot, s.next_expected, m->offset, s.generation);
      if (st == status::ok || st == status::stale) {
        ++stats_.gaps;
        stats_.gap_offsets += static_cast<std::uint64_t>(m->offset - s.next_expected);
      } else if (st == status::window_full) {
        // The gap does not fit above the floor yet: hold this record, report the gap later.
        return n + park(s, std::move(r));
      }
    }
    s.next_expected = m->offset + 1;
    if (m->offset >= t_.committed(r.slot) + static_cast<std::int64_t>(Tracker::window)) return n + park(s, std::move(r));
    return n + hand_out(s, std::move(r), handler);
  }

  /// A worker finished r (any thread). ok, stale (already covered), fenced (the partition was
  /// revoked or reassigned since r was handed out: the new owner will process it again).
  status complete(const record& r) noexcept {
    const status st = t_.complete(r.slot, r.offset, r.generation);
    if (st == status::fenced) fenced_.fetch_add(1, std::memory_order_relaxed);
    slots_[r.slot].inflight.fetch_sub(1, std::memory_order_acq_rel);
    return st;
  }

  /// Commits every owned partition whose processed position rose (tracker.drain) in one
  /// synchronous rd_kafka_commit. A partition whose commit fails stays pending. Returns ok or
  /// the first failure's status.
  status commit() {
    if (!rk_) return status::invalid_state;
    detail::list_ptr list = detail::make_list(4);
    t_.drain([&](std::size_t p, std::int64_t pos) {
      const slot_state& s = slots_[p];
      if (s.owned && pos > s.committed)
        rd_kafka_topic_partition_list_add(list.get(), s.topic.c_str(), s.partition)->offset = pos;
      return false;  // first pass only collects; the second clears what was committed
    });
    status result = status::ok;
    if (list->cnt > 0) result = commit_list(list.get());
    t_.drain([&](std::size_t p, std::int64_t pos) {
      const slot_state& s = slots_[p];
      return !s.owned || pos <= s.committed;  // advanced since, or failed: stays pending
    });
    return result;
  }

  /// Clean shutdown: waits for in-flight work, commits, leaves the group (its revocation
  /// commits once more), destroys the client.
  status close() {
    if (!rk_) return status::ok;
    wait_inflight_all();
    const status st = commit();
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
    return st;
  }

  /// Simulated process crash (tests, demos): no commit, no leave; the group notices when the
  /// session times out. Records still held by workers must not be completed afterwards.
  void crash() {
    if (!rk_) return;
    rd_kafka_destroy_flags(rk_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    rk_ = nullptr;
  }

  rd_kafka_t* handle() const noexcept { return rk_; }
  consumer_stats stats() const noexcept {
    consumer_stats s = stats_;
    s.fenced = fenced_.load(std::memory_order_relaxed);
    return s;
  }
  status last_error() const noexcept { return last_error_; }
  void on_commit(commit_observer f) { observer_ = std::move(f); }
  /// Partitions currently owned (assigned and not revoked).
  std::size_t owned() const noexcept {
    std::size_t n = 0;
    for (const auto& s : slots_) n += s.owned ? 1u : 0u;
    return n;
  }

 private:
  struct slot_state {
    std::string topic;
    std::int32_t partition = -1;
    bool owned = false;
    bool anchored = false;
    std::uint32_t generation = 0;
    std::int64_t next_expected = 0;  // next offset the fetch should deliver
    std::int64_t committed = -1;     // last position committed to Kafka by this member
    bool held = false;               // a record is parked: partition paused
    record parked{};
    std::atomic<int> inflight{0};
  };

  static void rebalance_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                                   void* opaque) {
    auto* self = static_cast<consumer*>(opaque);
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->on_assign(parts);
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
          self->last_error_ = to_status(e);
          rd_kafka_error_destroy(e);
        }
      } else {
        const rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
        if (e) self->last_error_ = to_status(e);
      }
    } else {
      self->on_revoke(parts, rd_kafka_assignment_lost(rk) != 0);
      if (cooperative) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
      } else {
        rd_kafka_assign(rk, nullptr);
      }
    }
  }

  // Reads the group's committed offsets and sets each partition's fetch offset to exactly the
  // position the tracker is restored to.
  void on_assign(rd_kafka_topic_partition_list_t* parts) {
    // A partition paused while held, revoked and now assigned again would otherwise stay
    // paused (librdkafka keeps the pause on the partition object): nothing would be fetched.
    rd_kafka_resume_partitions(rk_, parts);
    const rd_kafka_resp_err_t e = rd_kafka_committed(rk_, parts, cfg_.rpc_timeout_ms);
    if (e) last_error_ = to_status(e);
    for (int i = 0; i < parts->cnt; ++i) {
      rd_kafka_topic_partition_t& tp = parts->elems[i];
      const std::size_t p = slot_of(tp.topic, tp.partition);
      if (p >= slots_.size()) {  // more partitions than the tracker has: leave it unfetched
        last_error_ = status::table_full;
        tp.offset = RD_KAFKA_OFFSET_END;
        continue;
      }
      slot_state& s = slots_[p];
      wait_inflight(s);  // stragglers of an earlier generation finish before restore
      s.owned = true;
      s.held = false;
      s.parked = record{};
      ++stats_.assigns;
      if (!e && tp.err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.offset >= 0) {
        anchor(p, s, tp.offset);
        s.committed = tp.offset;
      } else {
        // No commit yet (or the lookup failed): librdkafka starts from the group's position or
        // the beginning; the first delivered offset anchors the tracker.
        s.anchored = false;
        s.generation = 0;
        s.committed = -1;
        tp.offset = e ? RD_KAFKA_OFFSET_STORED : RD_KAFKA_OFFSET_BEGINNING;
      }
    }
  }

  void anchor(std::size_t p, slot_state& s, std::int64_t first) {
    t_.restore(p, first);
    s.generation = t_.assign(p);
    s.anchored = true;
    s.next_expected = first;
  }

  void on_revoke(rd_kafka_topic_partition_list_t* parts, bool lost) {
    detail::list_ptr list = detail::make_list(parts->cnt);
    std::vector<std::size_t> revoked;
    for (int i = 0; i < parts->cnt; ++i) {
      const auto it = index_.find({parts->elems[i].topic, parts->elems[i].partition});
      if (it == index_.end() || !slots_[it->second].owned) continue;
      slot_state& s = slots_[it->second];
      wait_inflight(s);
      revoked.push_back(it->second);
      const std::int64_t pos = t_.committed(it->second);
      // A lost assignment is someone else's already: committing would rewind its progress.
      if (!lost && s.anchored && pos > s.committed)
        rd_kafka_topic_partition_list_add(list.get(), s.topic.c_str(), s.partition)->offset = pos;
    }
    if (list->cnt > 0) commit_list(list.get());
    for (std::size_t p : revoked) {
      slot_state& s = slots_[p];
      if (s.held) {
        detail::list_ptr l = detail::make_list(1);
        rd_kafka_topic_partition_list_add(l.get(), s.topic.c_str(), s.partition);
        rd_kafka_resume_partitions(rk_, l.get());
      }
      t_.revoke(p);  // fences stragglers still running
      s.owned = false;
      s.held = false;
      s.parked = record{};
      ++stats_.revokes;
    }
  }

  status commit_list(rd_kafka_topic_partition_list_t* list) {
    const rd_kafka_resp_err_t e = rd_kafka_commit(rk_, list, 0);
    status result = to_status(e);
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& tp = list->elems[i];
      const auto it = index_.find({tp.topic, tp.partition});
      if (it == index_.end()) continue;
      if (!e && tp.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        slots_[it->second].committed = tp.offset;
        ++stats_.commits;
        if (observer_) observer_(tp.topic, tp.partition, tp.offset);
      } else {
        ++stats_.commit_failures;
        if (result == status::ok) result = to_status(tp.err ? tp.err : e);
      }
    }
    if (result != status::ok) last_error_ = result;
    return result;
  }

  std::size_t park(slot_state& s, record&& r) {
    s.parked = std::move(r);
    s.held = true;
    ++stats_.parked;
    pause(s, true);
    return 0;
  }

  template <class Handler>
  std::size_t release_parked(Handler& handler) {
    std::size_t n = 0;
    for (std::size_t p = 0; p < slots_.size(); ++p) {
      slot_state& s = slots_[p];
      if (!s.owned || !s.held) continue;
      const std::int64_t floor = t_.committed(p);
      const std::int64_t o = s.parked.offset;
      if (o >= floor + static_cast<std::int64_t>(Tracker::window)) continue;
      if (o > s.next_expected) {  // a gap was waiting for room
        if (t_.complete_range(p, s.next_expected, o, s.generation) == status::window_full) continue;
        ++stats_.gaps;
        stats_.gap_offsets += static_cast<std::uint64_t>(o - s.next_expected);
      }
      s.held = false;
      s.next_expected = o + 1;
      pause(s, false);
      n += hand_out(s, std::move(s.parked), handler);
    }
    return n;
  }

  // Pause stops fetching; resume seeks to next_expected so that whatever the client dropped
  // while paused is fetched again (never skipped: the gap logic would count it as done).
  void pause(slot_state& s, bool on) {
    detail::list_ptr l = detail::make_list(1);
    rd_kafka_topic_partition_t* tp = rd_kafka_topic_partition_list_add(l.get(), s.topic.c_str(), s.partition);
    if (on) {
      rd_kafka_pause_partitions(rk_, l.get());
      return;
    }
    rd_kafka_resume_partitions(rk_, l.get());
    tp->offset = s.next_expected;
    if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_, l.get(), cfg_.rpc_timeout_ms)) {
      last_error_ = to_status(e);
      rd_kafka_error_destroy(e);
    }
  }

  template <class Handler>
  std::size_t hand_out(slot_state& s, record&& r, Handler& handler) {
    s.inflight.fetch_add(1, std::memory_order_acq_rel);
    ++stats_.delivered;
    handler(std::move(r));
    return 1;
  }

  void wait_inflight(slot_state& s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.revoke_wait_ms);
    while (s.inflight.load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void wait_inflight_all() {
    for (auto& s : slots_) wait_inflight(s);
  }

  std::size_t slot_of(const char* topic, std::int32_t partition) {
    const auto key = std::make_pair(std::string(topic), partition);
    const auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    if (index_.size() >= slots_.size()) return slots_.size();
    const std::size_t p = index_.size();
    index_.emplace(key, p);
    slots_[p].topic = topic;
    slots_[p].partition = partition;
    return p;
  }

  Tracker& t_;
  consumer_config cfg_;
  std::vector<slot_state> slots_;
  std::map<std::pair<std::string, std::int32_t>, std::size_t> index_;
  rd_kafka_t* rk_ = nullptr;
  consumer_stats stats_;
  std::atomic<std::uint64_t> fenced_{0};
  status last_error_ = status::ok;
  commit_observer observer_;
};

// ============================================================================================
// Gateway (receiver side of device links, producer role)
//
// Devices send batches (producer id, epoch, first..last sequence) and retry when an ack is
// lost. The gateway admits each batch once with a sequence_table per output partition, then
// forwards it as one Kafka message with librdkafka's idempotent producer, and acks the device
// only from the delivery report, i.e. after Kafka acknowledged it. A retried batch is answered
// `duplicate` with the offset where the original went, and is not forwarded again.
//
// One batch in flight per device (stop-and-wait): a device's next batch is checked against the
// table once the previous one is recorded; while one is in flight, a different batch from the
// same device answers window_full and a retry of the same batch duplicate with offset -1 (its
// ack follows).
//
// Restart: the table's producers are handed to `persist` after each recorded batch (write
// them to the journal) and loaded back with restore(). A crash between Kafka's ack and the
// persist, or a delivery whose outcome is unknown (message timeout, possibly persisted), is
// covered by recover(): it reads the partition from scan_from(p) to its end and admits every
// forwarded batch it finds (their headers carry the batch), so a retry of a batch that did
// land is a duplicate, not a second copy.
// ============================================================================================

/// Header carrying a forwarded batch: "offseq-batch", 18 bytes little-endian:
/// producer_id (8) | epoch (2) | first_seq (4) | last_seq (4).
inline constexpr const char* batch_header_name = "offseq-batch";
inline void encode_batch(const batch_header& b, unsigned char out[18]) noexcept {
  offseq::detail::put_u64(out, static_cast<std::uint64_t>(b.producer_id));
  offseq::detail::put_u16(out + 8, static_cast<std::uint16_t>(b.epoch));
  offseq::detail::put_u32(out + 10, static_cast<std::uint32_t>(b.first_seq));
  offseq::detail::put_u32(out + 14, static_cast<std::uint32_t>(b.last_seq));
}
inline bool decode_batch(const void* p, std::size_t n, batch_header& b) noexcept {
  if (p == nullptr || n != 18) return false;
  const unsigned char* c = static_cast<const unsigned char*>(p);
  b.producer_id = static_cast<std::int64_t>(offseq::detail::get_u64(c));
  b.epoch = static_cast<std::int16_t>(offseq::detail::get_u16(c + 8));
  b.first_seq = static_cast<std::int32_t>(offseq::detail::get_u32(c + 10));
  b.last_seq = static_cast<std::int32_t>(offseq::detail::get_u32(c + 14));
  return true;
}
/// The batch a forwarded message carries (false if it has none).
inline bool batch_of(const rd_kafka_message_t* m, batch_header& b) noexcept {
  rd_kafka_headers_t* h = nullptr;
  const void* v = nullptr;
  std::size_t n = 0;
  if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  if (rd_kafka_header_get_last(h, batch_header_name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  return decode_batch(v, n, b);
}

struct gateway_config {
  std::string brokers;
  std::string topic;
  std::int32_t partitions = 1;       ///< output partitions; device d goes to d % partitions
  int message_timeout_ms = 30000;    ///< librdkafka message.timeout.ms
  int rpc_timeout_ms = 5000;         ///< recover(): watermark lookups and fetches
  properties extra;
};

struct gateway_stats {
  std::uint64_t forwarded = 0;       ///< batches handed to Kafka
  std::uint64_t acked = 0;           ///< batches Kafka acknowledged (and the device was acked)
  std::uint64_t duplicates = 0;      ///< retries answered from the table, not forwarded
  std::uint64_t in_flight_retries = 0;  ///< retries of a batch still in flight
  std::uint64_t rejected = 0;        ///< out_of_order, fenced, window_full, table_full, ...
  std::uint64_t delivery_failures = 0;
  std::uint64_t recovered = 0;       ///< batches found in Kafka by recover() that the table lacked
};

template <class Table>
class gateway {
 public:
  using producer_snapshot = typename Table::producer_snapshot;
  /// Device ack: (batch, verdict). ok with offset = appended there; otherwise the failure
  /// (the device retries later). Runs inside poll()/flush().
  using ack_fn = std::function<void(const batch_header&, const verdict&)>;
  /// Durable write of one producer's state after it changed (the journal; the partition's
  /// table is passed for writers that snapshot it, such as producer_journal). A failure keeps the
  /// device's ack back (it retries; the in-memory table answers duplicate) and marks the
  /// partition for recover(): the next submit() to it (or recover()) persists the producer again
  /// before anything is answered from the table.
  using persist_fn = std::function<status(std::int32_t, const Table&, const producer_snapshot&)>;

  gateway(gateway_config cfg, ack_fn ack, persist_fn persist = {})
      : cfg_(std::move(cfg)), ack_(std::move(ack)), persist_(std::move(persist)) {
    for (std::int32_t p = 0; p < cfg_.partitions; ++p) tables_.emplace_back(new Table());
    scan_from_.assign(static_cast<std::size_t>(cfg_.partitions), 0);
    uncertain_.assign(static_cast<std::size_t>(cfg_.partitions), false);
    unpersisted_.resize(static_cast<std::size_t>(cfg_.partitions));
  }
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;
  ~gateway() {
    if (rk_) {
      flush(cfg_.message_timeout_ms);
      rd_kafka_destroy(rk_);
    }
    rk_ = nullptr;
  }

  /// Creates the idempotent producer (enable.idempotence=true: librdkafka's own retries to
  /// Kafka never duplicate either).
  status start(std::string* error = nullptr) {
    if (rk_) return status::invalid_state;
    const properties props = {{"bootstrap.servers", cfg_.brokers},
                              {"enable.idempotence", "true"},
                              {"message.timeout.ms", std::to_string(cfg_.message_timeout_ms)},
                              {"linger.ms", "2"}};
    rk_ = detail::make_client(
        RD_KAFKA_PRODUCER, props, cfg_.extra, this,
        [](rd_kafka_conf_t* c) { rd_kafka_conf_set_dr_msg_cb(c, &gateway::delivery_trampoline); }, error);
    if (!rk_) return status::invalid_argument;
    return status::ok;
  }

  /// Output partition of a device.
  std::int32_t partition_of(std::int64_t producer_id) const noexcept {
    return static_cast<std::int32_t>(producer_id % cfg_.partitions);
  }

  /// A batch from a device. ok: forwarded, the ack follows through ack_fn. duplicate with
  /// offset >= 0: already in Kafka there (ack the device now); duplicate with offset -1: the
  /// original is still in flight (its ack follows). Anything else: rejected (out_of_order with
  /// expected_seq, fenced, table_full, window_full, invalid_argument, or a client error).
  verdict submit(const batch_header& b, const void* payload, std::size_t n, std::uint64_t now_ms) {
    if (!rk_) return reject(status::invalid_state);
    if (b.producer_id < 0) return reject(status::invalid_argument);
    const std::int32_t p = partition_of(b.producer_id);
    if (uncertain_[static_cast<std::size_t>(p)]) {
      const status st = recover_partition(p, now_ms);
      if (st != status::ok) return reject(st);
    }
    const auto fl = inflight_.find(b.producer_id);
    if (fl != inflight_.end()) {
      const batch_header& o = fl->second->b;
      if (o.epoch == b.epoch && o.first_seq == b.first_seq && o.last_seq == b.last_seq) {
        ++stats_.in_flight_retries;
        return verdict{status::duplicate, -1, -1};
      }
      return reject(status::window_full);
    }
    Table& t = *tables_[static_cast<std::size_t>(p)];
    verdict v = t.check(b);
    if (v.code == status::duplicate) {
      ++stats_.duplicates;
      return v;
    }
    if (v.code != status::ok) {
      ++stats_.rejected;
      return v;
    }
    // A new producer takes a slot only when its batch is recorded: reserve it now so that a
    // batch Kafka accepted can always be recorded.
    producer_snapshot snap;
    const bool known = t.find(b.producer_id, snap) == status::ok;
    if (!known && t.size() + new_in_flight_[static_cast<std::size_t>(p)] >= Table::capacity)
      return reject(status::table_full);
    auto pending = std::unique_ptr<in_flight>(new in_flight{b, p, !known});
    unsigned char hdr[18];
    encode_batch(b, hdr);
    const std::string key = std::to_string(b.producer_id);
    const rd_kafka_resp_err_t e = rd_kafka_producev(
        rk_, RD_KAFKA_V_TOPIC(cfg_.topic.c_str()), RD_KAFKA_V_PARTITION(p),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<void*>(payload), n), RD_KAFKA_V_HEADER(batch_header_name, hdr, sizeof hdr),
        RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
    if (e) return reject(to_status(e));
    if (pending->new_producer) ++new_in_flight_[static_cast<std::size_t>(p)];
    inflight_.emplace(b.producer_id, pending.get());
    pending.release();  // owned by the delivery report now
    ++stats_.forwarded;
    return verdict{status::ok, -1, -1};
  }

  /// Serves delivery reports (records, persists, acks). Returns how many were served.
  int poll(int timeout_ms) { return rk_ ? rd_kafka_poll(rk_, timeout_ms) : 0; }

  /// Waits until every forwarded batch has its delivery report.
  status flush(int timeout_ms) { return rk_ ? to_status(rd_kafka_flush(rk_, timeout_ms)) : status::invalid_state; }

  /// Boot: loads one producer's persisted state into partition p's table.
  status restore(std::int32_t p, const producer_snapshot& s) {
    if (p < 0 || p >= cfg_.partitions) return status::invalid_argument;
    return tables_[static_cast<std::size_t>(p)]->restore_producer(s);
  }
  /// Where recover() starts reading partition p (a checkpoint: every batch below it is in the
  /// restored state). Default 0: the whole partition.
  status scan_from(std::int32_t p, std::int64_t offset) {
    if (p < 0 || p >= cfg_.partitions || offset < 0) return status::invalid_argument;
    scan_from_[static_cast<std::size_t>(p)] = offset;
    return status::ok;
  }

  /// Boot, after restore(): reads every partition from scan_from to its end and admits the
  /// batches found there (forwarded before a crash, recorded or not). Call before submit().
  /// A failure (Kafka, or persist of what was found) is returned; the partitions not recovered
  /// stay marked, so the next recover() or submit() to them reads them again.
  status recover(std::uint64_t now_ms) {
    // Marked first: a failure on one partition must not leave the later ones open to submit().
    uncertain_.assign(uncertain_.size(), true);
    for (std::int32_t p = 0; p < cfg_.partitions; ++p) {
      const status st = recover_partition(p, now_ms);
      if (st != status::ok) return st;
    }
    return status::ok;
  }

  /// Simulated crash: in-flight batches are abandoned (some may still land in Kafka: exactly
  /// what recover() after a restart is for). No acks are sent for them.
  void crash() {
    if (!rk_) return;
    crashed_ = true;
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE);  // not yet sent: never lands
    rd_kafka_poll(rk_, 0);
    rd_kafka_destroy(rk_);  // sent ones may land; their reports are swallowed (crashed_)
    rk_ = nullptr;
    for (auto& kv : inflight_) delete kv.second;
    inflight_.clear();
  }

  const Table& table(std::int32_t p) const { return *tables_[static_cast<std::size_t>(p)]; }
  gateway_stats stats() const noexcept { return stats_; }
  rd_kafka_t* handle() const noexcept { return rk_; }

 private:
  struct in_flight {
    batch_header b;
    std::int32_t partition;
    bool new_producer;
  };

  verdict reject(status s) {
    ++stats_.rejected;
    return verdict{s, -1, -1};
  }

  static void delivery_trampoline(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<gateway*>(opaque)->on_delivery(m);
  }

  void on_delivery(const rd_kafka_message_t* m) {
    if (crashed_ || m->_private == nullptr) return;  // after crash(): freed there
    std::unique_ptr<in_flight> f(static_cast<in_flight*>(m->_private));
    inflight_.erase(f->b.producer_id);
    const std::size_t p = static_cast<std::size_t>(f->partition);
    if (f->new_producer) --new_in_flight_[p];
    if (m->err) {
      ++stats_.delivery_failures;
      // Possibly persisted: Kafka may hold it. Read the partition before admitting more.
      if (rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED) uncertain_[p] = true;
      ack_(f->b, verdict{to_status(m->err), -1, -1});
      return;
    }
    Table& t = *tables_[p];
    const verdict v = t.admit(f->b, m->offset, detail::now_ms());
    if (v.code != status::ok) {  // cannot happen with one batch in flight per device
      ack_(f->b, v);
      return;
    }
    if (persist_) {
      producer_snapshot snap;
      t.find(f->b.producer_id, snap);
      const status st = persist_(f->partition, t, snap);
      if (st != status::ok) {
        // A restart before the next persist must rescan from here; recover_partition persists
        // the producer (the rescan alone would find its batch duplicate and skip it).
        uncertain_[p] = true;
        unpersisted_[p].insert(f->b.producer_id);
        ack_(f->b, verdict{st, -1, -1});
        return;
      }
      unpersisted_[p].erase(f->b.producer_id);
    }
    ++stats_.acked;
    ack_(f->b, verdict{status::ok, m->offset, -1});
  }

  // Reads partition p from scan_from to the high watermark with a group-less consumer and
  // admits each forwarded batch at its offset.
  status recover_partition(std::int32_t p, std::uint64_t now_ms) {
    // A group-less read needs a group.id for consumer_poll; nothing is ever committed to it.
    const properties props = {{"bootstrap.servers", cfg_.brokers},
                              {"group.id", "offseq-gateway-recover"},
                              {"enable.auto.commit", "false"},
                              {"enable.partition.eof", "true"}};
    properties extra;  // only the user's connection and test settings apply to this reader
    for (const auto& kv : cfg_.extra)
      if (kv.first == "log_level" || kv.first.rfind("test.", 0) == 0 || kv.first.rfind("security.", 0) == 0 || kv.first.rfind("sasl.", 0) == 0 ||
          kv.first.rfind("ssl.", 0) == 0)
        extra.push_back(kv);
    rd_kafka_t* rk = detail::make_client(RD_KAFKA_CONSUMER, props, extra, nullptr, [](rd_kafka_conf_t*) {}, nullptr);
    if (!rk) return status::invalid_argument;
    struct closer {
      rd_kafka_t* rk;
      ~closer() { rd_kafka_destroy(rk); }
    } c{rk};
    std::int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, cfg_.topic.c_str(), p, &lo, &hi, cfg_.rpc_timeout_ms);
    if (e) return to_status(e);
    std::int64_t from = scan_from_[static_cast<std::size_t>(p)];
    if (from < lo) from = lo;
    Table& t = *tables_[static_cast<std::size_t>(p)];
    if (from < hi) {
      detail::list_ptr l = detail::make_list(1);
      rd_kafka_topic_partition_list_add(l.get(), cfg_.topic.c_str(), p)->offset = from;
      if ((e = rd_kafka_assign(rk, l.get()))) return to_status(e);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.rpc_timeout_ms);
      std::int64_t next = from;
      while (next < hi) {
        if (std::chrono::steady_clock::now() > deadline) return status::io_error;
        rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          next = m->offset;
        } else if (m->err) {
          const status st = to_status(m->err);
          rd_kafka_message_destroy(m);
          return st;
        } else {
          batch_header b;
          if (batch_of(m, b) && partition_of(b.producer_id) == p &&
              t.admit(b, m->offset, now_ms).code == status::ok) {
            ++stats_.recovered;
            if (persist_) unpersisted_[static_cast<std::size_t>(p)].insert(b.producer_id);
          }
          next = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
      }
      rd_kafka_assign(rk, nullptr);
    }
    // Persisted once per producer after the scan, from a set that outlives a failed attempt: a
    // retry finds the admitted batches duplicate in the table, so only this set still knows they
    // are not durable. Until all are persisted the partition stays uncertain and scan_from stays,
    // so the next submit() or recover() runs this again (as on_delivery's failure does).
    const status st = persist_unpersisted(p);
    if (st != status::ok) return st;
    scan_from_[static_cast<std::size_t>(p)] = hi;
    uncertain_[static_cast<std::size_t>(p)] = false;
    return status::ok;
  }

  // Persists partition p's producers in unpersisted_, each dropped from it once durable; stops at
  // the first failure and returns it.
  status persist_unpersisted(std::int32_t p) {
    std::set<std::int64_t>& ids = unpersisted_[static_cast<std::size_t>(p)];
    const Table& t = *tables_[static_cast<std::size_t>(p)];
    while (!ids.empty()) {
      producer_snapshot snap;
      if (t.find(*ids.begin(), snap) == status::ok) {  // not found: no state left to persist
        const status st = persist_(p, t, snap);
        if (st != status::ok) return st;
      }
      ids.erase(ids.begin());
    }
    return status::ok;
  }

  gateway_config cfg_;
  ack_fn ack_;
  persist_fn persist_;
  std::vector<std::unique_ptr<Table>> tables_;
  std::vector<std::int64_t> scan_from_;
  std::vector<bool> uncertain_;
  std::vector<std::set<std::int64_t>> unpersisted_;  ///< in the table, not yet through persist_
  std::map<std::int64_t, in_flight*> inflight_;
  std::map<std::size_t, std::size_t> new_in_flight_;
  rd_kafka_t* rk_ = nullptr;
  bool crashed_ = false;
  gateway_stats stats_;
};

// ============================================================================================
// producer_journal: the gateway's tables through offseq::journal
//
// One journal (one Storage) per output partition, each written through the header's
// producer_log<Table> (record_type::producer, its format and compaction): save() notes the
// producer and flushes, so an ack never goes out before the table state that covers it is
// durable. Single thread (the gateway's).
// ============================================================================================
template <class Table, class Journal>
class producer_journal {
 public:
  using producer_snapshot = typename Table::producer_snapshot;

  /// journals[p] holds partition p's table.
  explicit producer_journal(std::vector<Journal*> journals) : j_(std::move(journals)), logs_(j_.size()) {}

  /// Mounts every journal (formats a blank one) and reads the producers it holds.
  status open() {
    found_.assign(j_.size(), {});
    for (std::size_t p = 0; p < j_.size(); ++p) {
      std::unique_ptr<Table> t(new Table());
      status st = producer_log<Table>::load(*j_[p], *t);
      if (st == status::not_found) st = j_[p]->format();
      if (st != status::ok) return st;
      t->for_each_producer([&](const producer_snapshot& s) { found_[p].push_back(s); });
    }
    return status::ok;
  }
  /// Loads what open() found into the gateway (gateway::restore).
  template <class Gateway>
  status load(Gateway& gw) const {
    for (std::size_t p = 0; p < found_.size(); ++p)
      for (const auto& s : found_[p]) {
        const status st = gw.restore(static_cast<std::int32_t>(p), s);
        if (st != status::ok) return st;
      }
    return status::ok;
  }
  /// The gateway's persist_fn: the producer's state as partition p's table holds it, durable.
  status save(std::int32_t p, const Table& t, const producer_snapshot& s) {
    if (p < 0 || static_cast<std::size_t>(p) >= j_.size()) return status::invalid_argument;
    logs_[static_cast<std::size_t>(p)].note(s.producer_id);
    return logs_[static_cast<std::size_t>(p)].flush(*j_[static_cast<std::size_t>(p)], t);
  }
  /// Producers open() found, all partitions.
  std::size_t producers() const noexcept {
    std::size_t n = 0;
    for (const auto& v : found_) n += v.size();
    return n;
  }

 private:
  std::vector<Journal*> j_;
  std::vector<producer_log<Table>> logs_;
  std::vector<std::vector<producer_snapshot>> found_;
};

}  // namespace kafka
}  // namespace offseq

#endif  // OFFSEQ_PLATFORM_LIBRDKAFKA_HPP
