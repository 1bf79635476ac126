// kafka::gateway<sequence_table> against librdkafka's mock cluster: devices retry over a lossy
// link, the broker answers with injected errors, the gateway crashes with batches in flight.
// Every test reads the topic back: each device batch is in Kafka exactly once, at the offset
// the device was acked with.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include <sim_flash.hpp>

#include "mock_cluster.hpp"

using offseq::status;
namespace kafka = offseq::kafka;

namespace {
using table_t = offseq::sequence_table<16, 5>;
using gateway_t = kafka::gateway<table_t>;

// A device: sends one batch at a time and resends it until acked (stop-and-wait).
struct device {
  std::int64_t pid = 0;
  std::int32_t next_seq = 0;
  int sent = 0;           // batches acked
  bool pending = false;
  offseq::batch_header cur{};
  int idle = 0;           // rounds since the last (re)send
  std::map<std::int32_t, std::int64_t> acked;  // first_seq -> offset the gateway acked
};

struct fleet {
  std::vector<device> devs;
  std::mt19937 rng{12345};
  double ack_loss = 0;
  std::uint64_t retries = 0, lost_acks = 0;
  int batches;

  fleet(int n, int batches_each, double loss) : ack_loss(loss), batches(batches_each) {
    for (int i = 0; i < n; ++i) {
      devs.emplace_back();
      devs.back().pid = 100 + i;
    }
  }
  device* find(std::int64_t pid) {
    for (auto& d : devs)
      if (d.pid == pid) return &d;
    return nullptr;
  }
  void acked(device& d, std::int64_t offset) {
    d.acked[d.cur.first_seq] = offset;
    d.next_seq = offseq::sequence_add(d.cur.last_seq, 1);
    d.pending = false;
    ++d.sent;
  }
  // The gateway's ack callback: the link loses some acks.
  gateway_t::ack_fn on_ack() {
    return [this](const offseq::batch_header& b, const offseq::verdict& v) {
      device* d = find(b.producer_id);
      REQUIRE(d != nullptr);
      if (v.code != status::ok) return;  // a failure: the device resends
      if (std::uniform_real_distribution<double>(0, 1)(rng) < ack_loss) {
        ++lost_acks;
        return;
      }
      if (d->pending && d->cur.first_seq == b.first_seq) acked(*d, v.offset);
    };
  }
  // One round: every device without an outstanding batch sends its next one, and a device
  // whose ack has not come for a few rounds resends.
  void round(gateway_t& gw) {
    for (auto& d : devs) {
      if (d.sent >= batches) continue;
      if (!d.pending) {
        const std::int32_t count = 1 + static_cast<std::int32_t>(rng() % 4);
        d.cur = offseq::batch_header{d.pid, 0, d.next_seq, offseq::sequence_add(d.next_seq, count - 1)};
        d.pending = true;
        d.idle = 0;
        send(gw, d);
      } else if (++d.idle > 3) {
        ++retries;
        d.idle = 0;
        send(gw, d);
      }
    }
    gw.poll(5);
  }
  void send(gateway_t& gw, device& d) {
    const std::string payload = "d" + std::to_string(d.pid) + ":" + std::to_string(d.cur.first_seq) + "-" + std::to_string(d.cur.last_seq);
    const offseq::verdict v = gw.submit(d.cur, payload.data(), payload.size(), kafka::detail::now_ms());
    if (v.code == status::duplicate && v.offset >= 0) acked(d, v.offset);  // already in Kafka
  }
  bool done() const {
    for (const auto& d : devs)
      if (d.sent < batches) return false;
    return true;
  }
};

// Reads the topic back: every batch exactly once, at the offset its device was acked with.
void check_exactly_once(mock::cluster& cl, const std::string& topic, int partitions, fleet& f) {
  std::map<std::pair<std::int64_t, std::int32_t>, std::vector<std::int64_t>> where;
  std::size_t messages = 0;
  for (int p = 0; p < partitions; ++p)
    for (const auto& m : cl.read_all(topic, p)) {
      REQUIRE(m.has_batch);
      where[{m.batch.producer_id, m.batch.first_seq}].push_back(m.offset);
      ++messages;
    }
  std::size_t batches = 0, dup = 0, lost = 0, misplaced = 0;
  for (const auto& d : f.devs)
    for (const auto& a : d.acked) {
      ++batches;
      const auto it = where.find({d.pid, a.first});
      if (it == where.end()) {
        ++lost;
        continue;
      }
      if (it->second.size() > 1) ++dup;
      if (it->second.front() != a.second) ++misplaced;
    }
  CHECK(lost == 0);
  CHECK(dup == 0);
  CHECK(misplaced == 0);
  CHECK(messages == batches);
}

template <class Pred>
bool run_until(Pred p, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!p())
    if (std::chrono::steady_clock::now() > deadline) return false;
  return true;
}
}  // namespace

TEST_CASE("gateway: retries after lost acks are answered duplicate with the original offset, never forwarded twice") {
  mock::cluster cl;
  cl.create_topic("out", 2);
  fleet f(6, 25, 0.3);
  gateway_t gw({cl.brokers, "out", 2, 30000, 5000, mock::quiet()}, f.on_ack());
  REQUIRE(gw.start() == status::ok);
  REQUIRE(run_until([&] {
    f.round(gw);
    return f.done();
  }, 30));
  CHECK(f.lost_acks > 0);
  CHECK(f.retries > 0);
  CHECK(gw.stats().duplicates > 0);       // answered from the table
  CHECK(gw.stats().forwarded == 150);     // each batch handed to Kafka once
  CHECK(gw.stats().acked == 150);
  REQUIRE(gw.flush(5000) == status::ok);
  check_exactly_once(cl, "out", 2, f);
}

TEST_CASE("gateway: broker errors on produce are retried by the idempotent producer; no duplicate, nothing lost") {
  mock::cluster cl;
  cl.create_topic("out", 2);
  fleet f(4, 20, 0.1);
  // One injected error per request: with librdkafka 2.0.2 against the mock, a request that
  // fails again on its retry (two errors back to back) leaves the idempotent producer draining
  // the partition forever (not even message.timeout.ms ends it). A liveness problem of that
  // pair, never a duplicate; not what this test is about.
  gateway_t gw({cl.brokers, "out", 2, 30000, 5000, mock::quiet()}, f.on_ack());
  REQUIRE(gw.start() == status::ok);
  const rd_kafka_resp_err_t errors[] = {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE};
  int round = 0, injected = 0;
  REQUIRE(run_until([&] {
    if (++round % 10 == 1) {
      gw.flush(5000);  // the previous error's retry is done: this one hits a first attempt
      cl.fail_next(mock::api::produce, {errors[injected++ % 3]});
    }
    f.round(gw);
    return f.done();
  }, 30));
  CHECK(injected >= 3);
  CHECK(gw.stats().forwarded == 80);  // librdkafka retried to Kafka; nothing went back to the devices
  CHECK(gw.stats().delivery_failures == 0);
  REQUIRE(gw.flush(5000) == status::ok);
  check_exactly_once(cl, "out", 2, f);
}

TEST_CASE("gateway: a crash with batches in Kafka but not yet journaled; restart loads the journal + recovers, retries stay single") {
  mock::cluster cl;
  cl.create_topic("out", 2);
  fleet f(6, 40, 0.0);
  // The gateway's state on (simulated) flash, one per partition: two 1 KiB areas each,
  // compacted as they fill (offseq::producer_log through producer_journal).
  using journal_t = offseq::journal<offseq::sim::sim_flash, 256>;  // small records: small areas work
  using pj_t = kafka::producer_journal<table_t, journal_t>;
  offseq::sim::sim_flash flash0(2048, 1024, 8), flash1(2048, 1024, 8);
  auto j0 = std::make_unique<journal_t>(flash0);
  auto j1 = std::make_unique<journal_t>(flash1);
  auto pj = std::make_unique<pj_t>(std::vector<journal_t*>{j0.get(), j1.get()});
  REQUIRE(pj->open() == status::ok);
  auto persist = [&](std::int32_t p, const table_t& t, const table_t::producer_snapshot& s) { return pj->save(p, t, s); };
  {
    gateway_t gw({cl.brokers, "out", 2, 30000, 5000, mock::quiet()}, f.on_ack(), persist);
    REQUIRE(gw.start() == status::ok);
    // 60 batches, 30 per partition: more journal records than one 1 KiB area holds.
    REQUIRE(run_until([&] {
      f.round(gw);
      int acked = 0;
      for (const auto& d : f.devs) acked += d.sent;
      return acked >= 60;
    }, 20));
    REQUIRE(gw.flush(5000) == status::ok);  // every device acked: none has a batch out
    // Every device sends its next batch; librdkafka delivers them to Kafka, but the gateway
    // dies before serving the delivery reports: Kafka has them, the table and the journal not.
    for (auto& d : f.devs)
      if (!d.pending && d.sent < f.batches) {
        d.cur = offseq::batch_header{d.pid, 0, d.next_seq, d.next_seq};
        d.pending = true;
        f.send(gw, d);
      }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    gw.crash();
  }
  CHECK(j0->generation() + j1->generation() > 2);  // the areas filled up and were compacted
  // Reboot: new journals mount the same flash, the new gateway loads what they hold.
  pj.reset();
  j0 = std::make_unique<journal_t>(flash0);
  j1 = std::make_unique<journal_t>(flash1);
  pj = std::make_unique<pj_t>(std::vector<journal_t*>{j0.get(), j1.get()});
  REQUIRE(pj->open() == status::ok);
  CHECK(pj->producers() == 6);
  gateway_t gw2({cl.brokers, "out", 2, 30000, 5000, mock::quiet()}, f.on_ack(), persist);
  REQUIRE(gw2.start() == status::ok);
  REQUIRE(pj->load(gw2) == status::ok);
  REQUIRE(gw2.recover(kafka::detail::now_ms()) == status::ok);
  CHECK(gw2.stats().recovered > 0);  // batches that landed just before the crash
  REQUIRE(run_until([&] {
    f.round(gw2);
    return f.done();
  }, 30));
  CHECK(gw2.stats().duplicates > 0);  // the devices' retries of those batches
  REQUIRE(gw2.flush(5000) == status::ok);
  check_exactly_once(cl, "out", 2, f);
}

TEST_CASE("gateway: out of order, an older epoch, a second batch in flight and bad input are rejected and never forwarded") {
  mock::cluster cl;
  cl.create_topic("out", 1);
  std::vector<std::pair<offseq::batch_header, offseq::verdict>> acks;
  gateway_t gw({cl.brokers, "out", 1, 30000, 5000, mock::quiet()},
               [&](const offseq::batch_header& b, const offseq::verdict& v) { acks.push_back({b, v}); });
  REQUIRE(gw.start() == status::ok);
  const std::uint64_t now = kafka::detail::now_ms();
  const char x[] = "x";
  const offseq::batch_header b0{7, 0, 0, 1};
  CHECK(gw.submit(b0, x, 1, now).code == status::ok);
  CHECK(gw.submit(offseq::batch_header{7, 0, 2, 3}, x, 1, now).code == status::window_full);  // stop-and-wait
  const offseq::verdict again = gw.submit(b0, x, 1, now);
  CHECK(again.code == status::duplicate);  // the original is in flight: its ack follows
  CHECK(again.offset == -1);
  REQUIRE(run_until([&] {
    gw.poll(10);
    return !acks.empty();
  }, 10));
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].second.code == status::ok);
  const std::int64_t at = acks[0].second.offset;
  const offseq::verdict dup = gw.submit(b0, x, 1, now);
  CHECK(dup.code == status::duplicate);
  CHECK(dup.offset == at);
  const offseq::verdict gap = gw.submit(offseq::batch_header{7, 0, 5, 6}, x, 1, now);
  CHECK(gap.code == status::out_of_order);
  CHECK(gap.expected_seq == 2);
  CHECK(gw.submit(offseq::batch_header{7, 1, 0, 0}, x, 1, now).code == status::ok);  // new epoch from 0
  REQUIRE(run_until([&] {
    gw.poll(10);
    return acks.size() == 2;
  }, 10));
  CHECK(gw.submit(offseq::batch_header{7, 0, 2, 2}, x, 1, now).code == status::fenced);
  CHECK(gw.submit(offseq::batch_header{-1, 0, 0, 0}, x, 1, now).code == status::invalid_argument);
  CHECK(gw.submit(offseq::batch_header{8, 0, -3, 0}, x, 1, now).code == status::invalid_argument);
  REQUIRE(gw.flush(5000) == status::ok);
  CHECK(cl.read_all("out", 0).size() == 2);  // b0 and the epoch-1 batch, nothing else
  CHECK(gw.stats().forwarded == 2);
}

namespace {
// A persist_fn's store (what a journal would hold): answers io_error to the first `fail`
// calls, then keeps each producer's latest snapshot.
struct failing_store {
  int fail = 0, calls = 0;
  std::map<std::int64_t, table_t::producer_snapshot> saved;
  gateway_t::persist_fn fn() {
    return [this](std::int32_t, const table_t&, const table_t::producer_snapshot& s) {
      ++calls;
      if (fail > 0) {
        --fail;
        return status::io_error;
      }
      saved[s.producer_id] = s;
      return status::ok;
    };
  }
  // The newest batch persisted for a producer, "first-last@offset" (readable when a CHECK fails).
  std::string last(std::int64_t pid) const {
    const auto it = saved.find(pid);
    if (it == saved.end() || it->second.count == 0) return "none";
    const auto& e = it->second.batches[it->second.count - 1];
    return batch(e.first_seq, e.last_seq, e.base_offset);
  }
  static std::string batch(std::int32_t first, std::int32_t last, std::int64_t offset) {
    return std::to_string(first) + "-" + std::to_string(last) + "@" + std::to_string(offset);
  }
};

// Submits b and serves delivery reports until its ack; returns that ack.
offseq::verdict submit_acked(gateway_t& gw, std::vector<std::pair<offseq::batch_header, offseq::verdict>>& acks,
                             const offseq::batch_header& b) {
  const std::size_t before = acks.size();
  const char x[] = "x";
  REQUIRE(gw.submit(b, x, 1, kafka::detail::now_ms()).code == status::ok);
  REQUIRE(run_until([&] {
    gw.poll(10);
    return acks.size() > before;
  }, 10));
  return acks.back().second;
}
}  // namespace

TEST_CASE("gateway: a persist failure during recovery is returned and the partition recovered again; retries answer duplicate at the original offset") {
  mock::cluster cl;
  cl.create_topic("out", 2);
  std::vector<std::pair<offseq::batch_header, offseq::verdict>> acks;
  auto on_ack = [&](const offseq::batch_header& b, const offseq::verdict& v) { acks.push_back({b, v}); };
  // Device 8 (partition 0) sends two batches, device 7 (partition 1) one; the gateway forwarding
  // them journals nothing, as if it crashed before every persist.
  const offseq::batch_header a{8, 0, 0, 1}, b{8, 0, 2, 3}, c{7, 0, 0, 0};
  std::int64_t at_a = -1, at_b = -1, at_c = -1;
  {
    gateway_t gw({cl.brokers, "out", 2, 30000, 5000, mock::quiet()}, on_ack);
    REQUIRE(gw.start() == status::ok);
    at_a = submit_acked(gw, acks, a).offset;
    at_b = submit_acked(gw, acks, b).offset;
    at_c = submit_acked(gw, acks, c).offset;
    REQUIRE(at_b == at_a + 1);
    REQUIRE(at_c == 0);
  }
  failing_store store;
  store.fail = 2;
  gateway_t gw({cl.brokers, "out", 2, 30000, 5000, mock::quiet()}, on_ack, store.fn());
  REQUIRE(gw.start() == status::ok);
  const char x[] = "x";
  // Partition 0's persist fails: recover() says so, and partition 1 is not left open either.
  CHECK(gw.recover(kafka::detail::now_ms()) == status::io_error);
  CHECK(gw.stats().recovered == 2);
  CHECK(store.saved.empty());
  // Device 7's retry of c: partition 1 is recovered first, and its persist fails too.
  CHECK(gw.submit(c, x, 1, kafka::detail::now_ms()).code == status::io_error);
  CHECK(store.saved.empty());
  // The next retry: the rescan finds c duplicate in the table, and the producer is persisted
  // all the same before the answer.
  offseq::verdict v = gw.submit(c, x, 1, kafka::detail::now_ms());
  CHECK(v.code == status::duplicate);
  CHECK(v.offset == at_c);
  CHECK(store.last(7) == failing_store::batch(0, 0, at_c));
  // Device 8's retry of b recovers partition 0 (rescan + persist) and answers from the table.
  v = gw.submit(b, x, 1, kafka::detail::now_ms());
  CHECK(v.code == status::duplicate);
  CHECK(v.offset == at_b);
  CHECK(store.last(8) == failing_store::batch(2, 3, at_b));
  REQUIRE(store.saved.count(8) == 1);
  CHECK(store.saved[8].count == 2);  // a and b
  CHECK(store.saved[8].batches[0].base_offset == at_a);
  CHECK(store.calls == 4);  // 2 failed, then 7 and 8 once each
  CHECK(gw.stats().recovered == 3);  // the rescans admitted nothing twice
  // Recovered: a retry of a is answered from the table without another scan or persist.
  v = gw.submit(a, x, 1, kafka::detail::now_ms());
  CHECK(v.code == status::duplicate);
  CHECK(v.offset == at_a);
  CHECK(store.calls == 4);
  // Device 8 carries on.
  const offseq::verdict d = submit_acked(gw, acks, offseq::batch_header{8, 0, 4, 4});
  REQUIRE(d.code == status::ok);
  CHECK(store.last(8) == failing_store::batch(4, 4, d.offset));
  REQUIRE(gw.flush(5000) == status::ok);
  CHECK(gw.stats().forwarded == 1);
  CHECK(cl.read_all("out", 0).size() == 3);
  CHECK(cl.read_all("out", 1).size() == 1);
}

TEST_CASE("gateway: a persist failure after Kafka's ack holds the device's ack back; its retry persists the producer before answering duplicate") {
  mock::cluster cl;
  cl.create_topic("out", 1);
  std::vector<std::pair<offseq::batch_header, offseq::verdict>> acks;
  failing_store store;
  store.fail = 1;
  gateway_t gw({cl.brokers, "out", 1, 30000, 5000, mock::quiet()},
               [&](const offseq::batch_header& b, const offseq::verdict& v) { acks.push_back({b, v}); }, store.fn());
  REQUIRE(gw.start() == status::ok);
  const offseq::batch_header b{7, 0, 0, 2};
  CHECK(submit_acked(gw, acks, b).code == status::io_error);  // in Kafka, not durable: no ack
  CHECK(store.saved.empty());
  const auto in_kafka = cl.read_all("out", 0);
  REQUIRE(in_kafka.size() == 1);
  const char x[] = "x";
  const offseq::verdict v = gw.submit(b, x, 1, kafka::detail::now_ms());
  CHECK(v.code == status::duplicate);
  CHECK(v.offset == in_kafka[0].offset);
  CHECK(store.last(7) == failing_store::batch(0, 2, in_kafka[0].offset));
  CHECK(store.calls == 2);
  REQUIRE(gw.flush(5000) == status::ok);
  CHECK(gw.stats().forwarded == 1);
}
