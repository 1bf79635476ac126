// kafka_bridge: devices retrying over a lossy link → gateway (offseq sequence_table journaled on flash + librdkafka idempotent producer, one crash) → Kafka → consumer group (offseq commit_tracker, out-of-order workers, one crash); the same consume with the naive read-position commit loses records.
//
// By default it starts librdkafka's mock cluster in this process (brokers on 127.0.0.1, nothing
// to install); --brokers host:port uses a real cluster (the topic must exist with >= 4
// partitions, or be auto-created). Built by `make kafka-demo` (not by `make examples`: it
// needs librdkafka-dev, which the kafka targets install).
//
// Usage: kafka_bridge [--brokers host:port] [--topic NAME] [--devices 8] [--batches 40]
//                     [--ack-loss 0.3] [--seed 1]
// Exit status 0 iff Kafka holds every device record exactly once and the offseq consumer
// processed every one of them.
#include <librdkafka.hpp>
#include <librdkafka/rdkafka_mock.h>
#include <sim_flash.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using offseq::status;
namespace kafka = offseq::kafka;

namespace {
constexpr int kPartitions = 4;
using table_t = offseq::sequence_table<64, 5>;
using gateway_t = kafka::gateway<table_t>;
using tracker_t = offseq::commit_tracker<kPartitions, 256>;

struct options {
  std::string brokers, topic = "offseq-bridge";
  int devices = 8, batches = 40;
  double ack_loss = 0.3;
  unsigned seed = 1;
};

kafka::properties common(const std::string& brokers) { return {{"bootstrap.servers", brokers}, {"log_level", "0"}}; }

// ------------------------------------------------------------------ devices → gateway → Kafka
// A device sends one batch at a time (1..4 records, each record "pid:seq") and resends it until
// an ack arrives; the link loses acks at random.
struct device {
  std::int64_t pid = 0;
  std::int32_t next_seq = 0;
  int done = 0;
  bool pending = false;
  offseq::batch_header cur{};
  std::uint64_t sent_ms = 0;  // last (re)send; no ack within kResendMs: resend
};
constexpr std::uint64_t kResendMs = 40;

struct bridge_counts {
  std::uint64_t records_sent = 0, batches_sent = 0, retries = 0, lost_acks = 0;
  std::uint64_t forwarded = 0, duplicates_dropped = 0, recovered = 0, gateway_crashes = 0;
  std::size_t journaled = 0;      // producers found in the journal at the restart
  std::uint64_t compactions = 0;  // journal compactions before the crash
};

std::string batch_payload(const offseq::batch_header& b) {
  std::string s;
  for (std::int32_t q = b.first_seq;; q = offseq::sequence_add(q, 1)) {
    s += std::to_string(b.producer_id) + ":" + std::to_string(q) + ";";
    if (q == b.last_seq) break;
  }
  return s;
}

bridge_counts run_devices(const options& o, std::mt19937& rng) {
  bridge_counts n;
  std::vector<device> devs(static_cast<std::size_t>(o.devices));
  for (std::size_t i = 0; i < devs.size(); ++i) devs[i].pid = 1000 + static_cast<std::int64_t>(i);
  // The gateway's sequence tables live in offseq::journal (through offseq::producer_log), one
  // simulated NOR flash per partition (two 2 KiB areas, compacted as they fill): a restarted
  // gateway mounts them and keeps deduplicating.
  using journal_t = offseq::journal<offseq::sim::sim_flash, 256>;  // small records: small areas work
  using pj_t = kafka::producer_journal<table_t, journal_t>;
  std::vector<std::unique_ptr<offseq::sim::sim_flash>> flash;
  std::vector<std::unique_ptr<journal_t>> journals;
  std::unique_ptr<pj_t> pj;
  auto mount = [&] {
    pj.reset();
    journals.clear();
    std::vector<journal_t*> js;
    for (int p = 0; p < kPartitions; ++p) {
      if (flash.size() < kPartitions) flash.emplace_back(new offseq::sim::sim_flash(4096, 2048, 8));
      journals.emplace_back(new journal_t(*flash[static_cast<std::size_t>(p)]));
      js.push_back(journals.back().get());
    }
    pj.reset(new pj_t(js));
    return pj->open();
  };
  if (mount() != status::ok) std::exit(2);
  auto find = [&](std::int64_t pid) -> device& { return devs[static_cast<std::size_t>(pid - 1000)]; };
  auto acked = [&](device& d) {
    d.next_seq = offseq::sequence_add(d.cur.last_seq, 1);
    d.pending = false;
    ++d.done;
  };
  auto on_ack = [&](const offseq::batch_header& b, const offseq::verdict& v) {
    device& d = find(b.producer_id);
    if (v.code != status::ok || !d.pending || d.cur.first_seq != b.first_seq) return;
    if (std::uniform_real_distribution<double>(0, 1)(rng) < o.ack_loss) {
      ++n.lost_acks;
      return;
    }
    acked(d);
  };
  auto persist = [&](std::int32_t p, const table_t& t, const table_t::producer_snapshot& s) { return pj->save(p, t, s); };
  kafka::gateway_config cfg{o.brokers, o.topic, kPartitions, 30000, 5000, {{"log_level", "0"}}};
  auto gw = std::make_unique<gateway_t>(cfg, on_ack, persist);
  if (gw->start() != status::ok) std::exit(2);
  const int total = o.devices * o.batches;
  bool crashed = false;
  auto sum = [&](gateway_t& g) {
    n.forwarded += g.stats().forwarded;
    n.duplicates_dropped += g.stats().duplicates + g.stats().in_flight_retries;
    n.recovered += g.stats().recovered;
  };
  for (int round = 0;; ++round) {
    int done = 0;
    for (auto& d : devs) {
      done += d.done;
      if (d.done >= o.batches) continue;
      if (!d.pending) {
        const std::int32_t count = 1 + static_cast<std::int32_t>(rng() % 4);
        d.cur = offseq::batch_header{d.pid, 0, d.next_seq, offseq::sequence_add(d.next_seq, count - 1)};
        d.pending = true;
        ++n.batches_sent;
        n.records_sent += static_cast<std::uint64_t>(count);
      } else if (kafka::detail::now_ms() - d.sent_ms >= kResendMs) {
        ++n.retries;
      } else {
        continue;
      }
      d.sent_ms = kafka::detail::now_ms();
      const std::string payload = batch_payload(d.cur);
      const offseq::verdict v = gw->submit(d.cur, payload.data(), payload.size(), kafka::detail::now_ms());
      if (v.code == status::duplicate && v.offset >= 0) acked(d);  // already in Kafka
    }
    if (done >= total) break;
    if (!crashed && done >= total / 2) {
      // The gateway dies with batches in flight: some reached Kafka, none were acked. A new
      // one restores the journal and reads the partitions' tails before taking batches.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      sum(*gw);
      gw->crash();
      ++n.gateway_crashes;
      for (const auto& j : journals) n.compactions += j->generation() - 1;
      if (mount() != status::ok) std::exit(3);  // reboot: the journals are mounted from the flash
      n.journaled = pj->producers();
      gw = std::make_unique<gateway_t>(cfg, on_ack, persist);
      if (gw->start() != status::ok) std::exit(2);
      if (pj->load(*gw) != status::ok) std::exit(3);
      if (gw->recover(kafka::detail::now_ms()) != status::ok) std::exit(3);
      crashed = true;
    }
    gw->poll(2);
  }
  gw->flush(10000);
  sum(*gw);
  return n;
}

// ------------------------------------------------------------------ Kafka → consumers
struct seen_set {
  std::mutex m;
  std::set<std::string> unique;  // "pid:seq"
  std::uint64_t processed = 0;   // record processings, re-deliveries included
  void add(const std::string& value) {
    std::lock_guard<std::mutex> g(m);
    std::size_t at = 0;
    while (at < value.size()) {
      const std::size_t end = value.find(';', at);
      unique.insert(value.substr(at, end - at));
      ++processed;
      at = end + 1;
    }
  }
  std::size_t size() {
    std::lock_guard<std::mutex> g(m);
    return unique.size();
  }
};

// Worker threads finishing out of order; a crash drops what they hold.
template <class Record>
struct workers {
  std::mutex m;
  std::condition_variable cv;
  std::deque<Record> q;
  std::atomic<bool> stop{false}, crash{false};
  std::vector<std::thread> threads;
  template <class Done>
  workers(int n, unsigned seed, Done done) {
    for (int i = 0; i < n; ++i)
      threads.emplace_back([this, done, i, seed] {
        std::mt19937 rng(seed + static_cast<unsigned>(i));
        for (;;) {
          Record r;
          {
            std::unique_lock<std::mutex> g(m);
            cv.wait(g, [&] { return stop || !q.empty(); });
            if (crash || q.empty()) return;
            r = std::move(q.front());
            q.pop_front();
          }
          std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 1500));
          if (crash) return;
          done(r);
        }
      });
  }
  void push(Record&& r) {
    std::lock_guard<std::mutex> g(m);
    q.push_back(std::move(r));
    cv.notify_one();
  }
  std::size_t backlog() {
    std::lock_guard<std::mutex> g(m);
    return q.size();
  }
  void end(bool crashed) {
    {
      std::lock_guard<std::mutex> g(m);
      crash = crashed;
      stop = true;
      cv.notify_all();
    }
    for (auto& t : threads) t.join();
  }
};

// One offseq consumer process: commit_tracker + kafka::consumer, commits every 50 ms.
// Runs until `until()` says so; crashes after `crash_after` processed records if > 0.
template <class Until>
void offseq_member(const options& o, seen_set& seen, std::uint64_t crash_after, Until until, unsigned seed) {
  tracker_t tracker;
  kafka::consumer<tracker_t> c(tracker, {o.brokers, "bridge-offseq", {o.topic}, 4000, 3000, 5000, {{"log_level", "0"}}});
  if (c.start() != status::ok) std::exit(2);
  std::atomic<std::uint64_t> done{0};
  workers<kafka::record> w(3, seed, [&](kafka::record& r) {
    seen.add(r.value);
    c.complete(r);
    ++done;
  });
  auto last = std::chrono::steady_clock::now();
  for (;;) {
    if (w.backlog() < 2000) c.poll(10, [&](kafka::record&& r) { w.push(std::move(r)); });
    else std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (std::chrono::steady_clock::now() - last > std::chrono::milliseconds(50)) {
      c.commit();
      last = std::chrono::steady_clock::now();
    }
    if (crash_after > 0 && done >= crash_after) {
      w.end(true);
      c.crash();
      return;
    }
    if (until()) break;
  }
  w.end(false);
  c.close();
}

// The naive consumer: librdkafka's auto commit of the read position (enable.auto.commit with
// the position stored as each message is polled), the same workers, the same crash.
struct raw_record {
  std::string value;
};
template <class Until>
void naive_member(const options& o, seen_set& seen, std::uint64_t crash_after, Until until, unsigned seed) {
  kafka::properties props = common(o.brokers);
  props.insert(props.end(), {{"group.id", "bridge-naive"}, {"enable.auto.commit", "true"},
                             {"auto.commit.interval.ms", "50"}, {"auto.offset.reset", "earliest"},
                             {"session.timeout.ms", "4000"}, {"heartbeat.interval.ms", "1000"}});
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& kv : props) rd_kafka_conf_set(conf, kv.first.c_str(), kv.second.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) std::exit(2);
  rd_kafka_poll_set_consumer(rk);
  auto topics = kafka::detail::make_list(1);
  rd_kafka_topic_partition_list_add(topics.get(), o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(rk, topics.get());
  std::atomic<std::uint64_t> done{0};
  workers<raw_record> w(3, seed, [&](raw_record& r) {
    seen.add(r.value);
    ++done;
  });
  for (;;) {
    if (w.backlog() < 2000) {
      if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 10)) {
        if (!m->err) w.push(raw_record{std::string(static_cast<const char*>(m->payload), m->len)});
        rd_kafka_message_destroy(m);
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (crash_after > 0 && done >= crash_after) {
      w.end(true);
      rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
      return;
    }
    if (until()) break;
  }
  w.end(false);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

// Reads every partition back with a read_committed reader: (records, records appearing twice).
std::pair<std::size_t, std::size_t> read_back(const options& o, std::set<std::string>& all) {
  kafka::properties props = common(o.brokers);
  props.insert(props.end(), {{"group.id", "bridge-reader"}, {"enable.auto.commit", "false"}, {"isolation.level", "read_committed"}});
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& kv : props) rd_kafka_conf_set(conf, kv.first.c_str(), kv.second.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  std::size_t records = 0, dups = 0;
  for (int p = 0; p < kPartitions; ++p) {
    std::int64_t lo = 0, hi = 0;
    rd_kafka_query_watermark_offsets(rk, o.topic.c_str(), p, &lo, &hi, 5000);
    auto l = kafka::detail::make_list(1);
    rd_kafka_topic_partition_list_add(l.get(), o.topic.c_str(), p)->offset = lo;
    rd_kafka_assign(rk, l.get());
    for (std::int64_t next = lo; next < hi;) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (!m->err) {
        const std::string v(static_cast<const char*>(m->payload), m->len);
        std::size_t at = 0;
        while (at < v.size()) {
          const std::size_t end = v.find(';', at);
          ++records;
          if (!all.insert(v.substr(at, end - at)).second) ++dups;
          at = end + 1;
        }
        next = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
    }
  }
  rd_kafka_assign(rk, nullptr);
  rd_kafka_destroy(rk);
  return {records, dups};
}
}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--brokers") o.brokers = v;
    else if (k == "--topic") o.topic = v;
    else if (k == "--devices") o.devices = std::atoi(v.c_str());
    else if (k == "--batches") o.batches = std::atoi(v.c_str());
    else if (k == "--ack-loss") o.ack_loss = std::atof(v.c_str());
    else if (k == "--seed") o.seed = static_cast<unsigned>(std::atoi(v.c_str()));
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  rd_kafka_t* owner = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
  if (o.brokers.empty()) {  // the embedded default: librdkafka's mock cluster on 127.0.0.1
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    mc = owner ? rd_kafka_mock_cluster_new(owner, 3) : nullptr;
    if (!mc) return 2;
    o.brokers = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_mock_topic_create(mc, o.topic.c_str(), kPartitions, 1);
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::mt19937 rng(o.seed);
  std::printf("kafka_bridge: %d devices x %d batches, ack loss %.0f%%, brokers %s%s\n", o.devices, o.batches,
              o.ack_loss * 100, o.brokers.c_str(), mc ? " (mock cluster)" : "");

  const bridge_counts b = run_devices(o, rng);
  std::set<std::string> in_kafka;
  const auto back = read_back(o, in_kafka);
  const std::size_t expected = static_cast<std::size_t>(b.records_sent);

  // Both consumer groups read the topic at the same time, each with one crash after a third.
  seen_set good, naive;
  const std::uint64_t crash_at = b.batches_sent / 3;  // Kafka messages (one per device batch)
  auto good_done = [&] { return good.size() >= expected; };
  std::thread g([&] {
    offseq_member(o, good, crash_at, good_done, o.seed);
    offseq_member(o, good, 0, good_done, o.seed + 10);
  });
  // The naive group cannot tell what it lost: it stops once the group is caught up and quiet.
  std::thread n([&] {
    naive_member(o, naive, crash_at, [] { return false; }, o.seed);
    const auto start = std::chrono::steady_clock::now();
    std::size_t last = 0;
    auto quiet_since = start;
    naive_member(o, naive, 0, [&] {
      const auto now = std::chrono::steady_clock::now();
      const std::size_t s = naive.size();
      if (s != last) {
        last = s;
        quiet_since = now;
      }
      return s >= expected || (now - start > std::chrono::seconds(6) && now - quiet_since > std::chrono::seconds(2));
    }, o.seed + 10);
  });
  g.join();
  n.join();

  const std::size_t lost = expected - std::min(expected, good.size());
  const std::size_t naive_lost = expected - std::min(expected, naive.size());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("devices:  %llu records in %llu batches sent, %llu resent (%llu acks lost)\n",
              static_cast<unsigned long long>(b.records_sent), static_cast<unsigned long long>(b.batches_sent),
              static_cast<unsigned long long>(b.retries), static_cast<unsigned long long>(b.lost_acks));
  std::printf("gateway:  %llu batches forwarded, %llu retries answered from the sequence table (a gateway without it: as many duplicates)\n",
              static_cast<unsigned long long>(b.forwarded), static_cast<unsigned long long>(b.duplicates_dropped));
  std::printf("restart:  1 gateway crash; %zu producers loaded from the journal (%llu compactions), %llu batches found in Kafka\n",
              b.journaled, static_cast<unsigned long long>(b.compactions), static_cast<unsigned long long>(b.recovered));
  std::printf("kafka:    %zu records read back read_committed, duplicates in Kafka: %zu, missing: %zu\n", back.first,
              back.second, expected - std::min(expected, in_kafka.size()));
  std::printf("consumer: offseq commit_tracker, 3 out-of-order workers, 1 crash: %zu/%zu records processed (%llu processings), lost: %zu\n",
              good.size(), expected, static_cast<unsigned long long>(good.processed), lost);
  std::printf("naive:    read-position auto-commit, same workers, same crash:    %zu/%zu records processed, lost: %zu\n",
              naive.size(), expected, naive_lost);
  std::printf("result:   %llu sent, %llu retries, %zu duplicates, %zu lost; naive lost %zu (%.1f s)\n",
              static_cast<unsigned long long>(b.records_sent), static_cast<unsigned long long>(b.retries), back.second, lost,
              naive_lost, secs);
  if (mc) {
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
  }
  return back.second == 0 && lost == 0 && in_kafka.size() == expected ? 0 : 1;
}
