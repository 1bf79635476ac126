// kafka::consumer<commit_tracker> against librdkafka's mock cluster: fetch from the committed
// offset, out-of-order workers, a crash, a rebalance, a commit refused during a rebalance, a
// full completion window. Every test checks the two promises on every commit the group sees:
// nothing below the committed offset is unprocessed, and at the end everything is committed.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "mock_cluster.hpp"

using offseq::status;
namespace kafka = offseq::kafka;

namespace {
constexpr int kSession = 4000;  // > the mock's 3 s initial join delay, short for crash tests

// What every member of the group has processed, and whether any commit got ahead of it.
struct ledger {
  std::mutex m;
  std::map<std::int32_t, std::set<std::int64_t>> processed;
  std::map<std::int32_t, std::int64_t> committed;
  std::uint64_t times = 0;       // processings, re-deliveries included
  int violations = 0;            // commits above an unprocessed offset

  void process(std::int32_t p, std::int64_t o) {
    std::lock_guard<std::mutex> g(m);
    processed[p].insert(o);
    ++times;
  }
  void on_commit(std::int32_t p, std::int64_t pos) {
    std::lock_guard<std::mutex> g(m);
    const auto& done = processed[p];
    for (std::int64_t o = 0; o < pos; ++o)
      if (!done.count(o)) {
        ++violations;
        break;
      }
    committed[p] = std::max(committed[p], pos);
  }
  std::uint64_t processings() {
    std::lock_guard<std::mutex> g(m);
    return times;
  }
  bool all_processed(const std::vector<std::int64_t>& ends) {
    std::lock_guard<std::mutex> g(m);
    for (std::size_t p = 0; p < ends.size(); ++p)
      if (static_cast<std::int64_t>(processed[static_cast<std::int32_t>(p)].size()) != ends[p]) return false;
    return true;
  }
};

using tracker_t = offseq::commit_tracker<8, 64>;

// One consumer process: a tracker, the binding, a poll thread (polls, commits every 20 ms) and
// worker threads that finish records out of order after a random delay.
struct member {
  tracker_t tracker;
  kafka::consumer<tracker_t> c;
  ledger& led;
  int max_delay_us;
  std::atomic<bool> stop{false}, crash{false};
  std::mutex m;
  std::condition_variable cv;
  std::deque<kafka::record> queue;
  std::vector<std::thread> workers;
  std::thread poller;
  kafka::consumer_stats before_close{};  // taken on the poll thread before the final close
  std::string protocol;
  std::size_t owned_before_close = 0;

  member(const mock::cluster& cl, ledger& l, const std::string& group, const std::vector<std::string>& topics, int workers_n,
         int delay_us, kafka::properties extra = mock::quiet())
      : c(tracker, kafka::consumer_config{cl.brokers, group, topics, kSession, 2000, 5000, extra}),
        led(l),
        max_delay_us(delay_us) {
    c.on_commit([this](const std::string&, std::int32_t p, std::int64_t pos) { led.on_commit(p, pos); });
    REQUIRE(c.start() == status::ok);
    for (int i = 0; i < workers_n; ++i) workers.emplace_back([this, i] { work(static_cast<unsigned>(i)); });
    poller = std::thread([this] { poll_loop(); });
  }
  ~member() { finish(); }

  void work(unsigned seed) {
    std::mt19937 rng(seed * 7919u + 1u);
    for (;;) {
      kafka::record r;
      {
        std::unique_lock<std::mutex> g(m);
        cv.wait(g, [&] { return stop || !queue.empty(); });
        if (crash) return;  // a crash drops the queue: those records are never completed
        if (queue.empty()) return;
        r = std::move(queue.front());
        queue.pop_front();
      }
      if (max_delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % static_cast<unsigned>(max_delay_us)));
      if (crash) return;  // died mid-processing
      led.process(r.partition, r.offset);
      c.complete(r);
    }
  }
  void poll_loop() {
    auto last = std::chrono::steady_clock::now();
    while (!stop) {
      c.poll(20, [&](kafka::record&& r) {
        std::lock_guard<std::mutex> g(m);
        queue.push_back(std::move(r));
        cv.notify_one();
      });
      if (std::chrono::steady_clock::now() - last > std::chrono::milliseconds(20)) {
        c.commit();
        last = std::chrono::steady_clock::now();
      }
    }
    {
      std::lock_guard<std::mutex> g(m);
      cv.notify_all();
    }
    for (auto& w : workers) w.join();
    before_close = c.stats();
    owned_before_close = c.owned();
    if (c.handle()) protocol = rd_kafka_rebalance_protocol(c.handle());
    if (crash) c.crash();
    else c.close();
  }
  void finish(bool crashed = false) {
    if (!poller.joinable()) return;
    crash = crashed;
    stop = true;
    poller.join();
  }
};

template <class Pred>
bool wait_for(Pred p, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!p()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}
}  // namespace

TEST_CASE("consumer: a restart fetches from the committed offset; only processed offsets are committed") {
  mock::cluster cl;
  cl.create_topic("t", 1);
  cl.produce("t", 1, 100);
  ledger led;
  {
    tracker_t tr;
    kafka::consumer<tracker_t> c(tr, {cl.brokers, "g", {"t"}, kSession, 100, 5000, mock::quiet()});
    c.on_commit([&](const std::string&, std::int32_t p, std::int64_t pos) { led.on_commit(p, pos); });
    REQUIRE(c.start() == status::ok);
    std::int64_t read = 0;
    // Read everything, process only offsets below 40 (and 50..59, above a hole at 40..49).
    REQUIRE(wait_for([&] {
      c.poll(50, [&](kafka::record&& r) {
        read = std::max(read, r.offset + 1);
        if (r.offset < 40 || (r.offset >= 50 && r.offset < 60)) {
          led.process(r.partition, r.offset);
          CHECK(c.complete(r) == status::ok);
        }
      });
      return read == 100;
    }, 20));
    CHECK(c.commit() == status::ok);
    CHECK(tr.committed(0) == 40);
    CHECK(c.close() == status::ok);  // in-flight 40..49 and 60..99 never finish: not committed
  }
  CHECK(cl.committed("g", "t", 1)[0] == 40);
  CHECK(led.violations == 0);

  tracker_t tr2;
  kafka::consumer<tracker_t> c2(tr2, {cl.brokers, "g", {"t"}, kSession, 1000, 5000, mock::quiet()});
  REQUIRE(c2.start() == status::ok);
  std::int64_t first = -1;
  REQUIRE(wait_for([&] {
    c2.poll(50, [&](kafka::record&& r) {
      if (first < 0) first = r.offset;
      c2.complete(r);
    });
    return first >= 0;
  }, 20));
  CHECK(first == 40);  // not 0 (re-reading everything), not 100 (the read position)
  CHECK(tr2.committed(0) <= 60);
}

TEST_CASE("consumer: out-of-order workers on 4 partitions; no commit ahead of processing; all committed") {
  mock::cluster cl;
  cl.create_topic("t", 4);
  const auto ends = cl.produce("t", 4, 2000);
  ledger led;
  member a(cl, led, "g", {"t"}, 4, 300);
  REQUIRE(wait_for([&] { return led.all_processed(ends); }, 30));
  a.finish();  // clean close commits the rest
  const auto com = cl.committed("g", "t", 4);
  CHECK(com == ends);
  CHECK(led.violations == 0);
  CHECK(a.c.stats().commits > 4);  // periodic commits happened, not just the final one
}

TEST_CASE("consumer: a crash mid-stream loses nothing; the next member resumes at the last commit") {
  mock::cluster cl;
  cl.create_topic("t", 3);
  const auto ends = cl.produce("t", 3, 1500);
  ledger led;
  {
    member a(cl, led, "g", {"t"}, 3, 2000);
    REQUIRE(wait_for([&] { return led.processings() > 300; }, 20));
    a.finish(/*crashed=*/true);  // in-flight and queued records are dropped, nothing closes
  }
  const auto at_crash = cl.committed("g", "t", 3);
  const std::uint64_t before = led.processings();
  CHECK(before < 1500);
  member b(cl, led, "g", {"t"}, 3, 0);
  REQUIRE(wait_for([&] { return led.all_processed(ends); }, 30));
  b.finish();
  CHECK(cl.committed("g", "t", 3) == ends);
  CHECK(led.violations == 0);
  // Re-processing is bounded by what was uncommitted at the crash (at-least-once, not "again").
  std::int64_t uncommitted = 0;
  for (std::size_t p = 0; p < 3; ++p) uncommitted += ends[p] - std::max<std::int64_t>(at_crash[p], 0);
  CHECK(led.times <= before + static_cast<std::uint64_t>(uncommitted));
}

TEST_CASE("consumer: a rebalance moves partitions to a new member; nothing lost, revoked work fenced or committed") {
  mock::cluster cl;
  cl.create_topic("t", 4);
  const auto ends = cl.produce("t", 4, 2000);
  ledger led;
  member a(cl, led, "g", {"t"}, 2, 1500);
  REQUIRE(wait_for([&] { return led.processings() > 200; }, 20));
  member b(cl, led, "g", {"t"}, 2, 500);
  REQUIRE(wait_for([&] { return led.all_processed(ends); }, 60));
  CHECK(wait_for([&] {
    const auto com = cl.committed("g", "t", 4);
    return com == ends;
  }, 10));
  a.finish();
  b.finish();
  CHECK(a.protocol == "EAGER");
  CHECK(a.before_close.revokes >= 4);  // eager: a gave up all 4 when b joined, got 2 back
  CHECK(a.owned_before_close == 2);
  CHECK(b.owned_before_close == 2);
  CHECK(b.before_close.assigns >= 1);
  CHECK(led.violations == 0);
  CHECK(cl.committed("g", "t", 4) == ends);
}

TEST_CASE("consumer: a cooperative-sticky rebalance (incremental assign/unassign) to a new member; nothing lost") {
  auto coop = mock::quiet();
  coop.emplace_back("partition.assignment.strategy", "cooperative-sticky");
  mock::cluster cl;
  cl.create_topic("t", 4);
  const auto ends = cl.produce("t", 4, 2000);
  ledger led;
  member a(cl, led, "g", {"t"}, 2, 1500, coop);
  REQUIRE(wait_for([&] { return led.processings() > 200; }, 20));
  member b(cl, led, "g", {"t"}, 2, 500, coop);
  REQUIRE(wait_for([&] { return led.all_processed(ends); }, 60));
  CHECK(wait_for([&] {
    const auto com = cl.committed("g", "t", 4);
    return com == ends;
  }, 10));
  a.finish();
  b.finish();
  CHECK(a.protocol == "COOPERATIVE");  // incremental_assign / incremental_unassign path
  CHECK(a.before_close.revokes >= 1);
  CHECK(a.owned_before_close == 2);
  CHECK(b.owned_before_close == 2);
  CHECK(b.before_close.assigns >= 1);
  CHECK(led.violations == 0);
  CHECK(cl.committed("g", "t", 4) == ends);
}

TEST_CASE("consumer: a commit refused during a rebalance keeps the partition pending; the next commit lands") {
  mock::cluster cl;
  cl.create_topic("t", 1);
  cl.produce("t", 1, 20);
  tracker_t tr;
  kafka::consumer<tracker_t> c(tr, {cl.brokers, "g", {"t"}, kSession, 1000, 5000, mock::quiet()});
  REQUIRE(c.start() == status::ok);
  int n = 0;
  REQUIRE(wait_for([&] {
    c.poll(50, [&](kafka::record&& r) {
      ++n;
      c.complete(r);
    });
    return n == 20;
  }, 20));
  cl.fail_next(mock::api::offset_commit, {RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS});
  const status refused = c.commit();
  CHECK(refused == status::invalid_state);
  CHECK(tr.pending(0));                     // kept for the next commit
  CHECK(cl.committed("g", "t", 1)[0] == -1);
  // The refusal makes librdkafka rejoin; commit again once the group is stable.
  REQUIRE(wait_for([&] {
    c.poll(20, [&](kafka::record&& r) { c.complete(r); });
    return c.commit() == status::ok && !tr.pending(0);
  }, 20));
  CHECK(cl.committed("g", "t", 1)[0] == 20);
  CHECK(c.stats().commit_failures >= 1);
}

TEST_CASE("consumer: a record beyond the completion window is held and released; nothing skipped") {
  using small_t = offseq::commit_tracker<2, 8>;
  mock::cluster cl;
  cl.create_topic("t", 1);
  cl.produce("t", 1, 100);
  small_t tr;
  auto props = mock::quiet();
  props.emplace_back("fetch.wait.max.ms", "10");
  props.emplace_back("fetch.error.backoff.ms", "10");
  kafka::consumer<small_t> c(tr, {cl.brokers, "g", {"t"}, kSession, 1000, 5000, props});
  REQUIRE(c.start() == status::ok);
  std::set<std::int64_t> seen;
  std::vector<kafka::record> slow;  // every 10th record finishes late
  int rounds = 0;
  std::uint64_t last_parked = 0;
  REQUIRE(wait_for([&] {
    c.poll(5, [&](kafka::record&& r) {
      CHECK(seen.insert(r.offset).second);  // never handed out twice
      if (r.offset % 10 == 0) {
        slow.push_back(std::move(r));
      } else {
        CHECK(c.complete(r) == status::ok);  // never window_full: held records fit
      }
    });
    // The slow record finishes once the binding had to hold a record back (or now and then).
    const std::uint64_t parked = c.stats().parked;
    if ((parked != last_parked || ++rounds % 100 == 0) && !slow.empty()) {
      last_parked = parked;
      CHECK(c.complete(slow.front()) == status::ok);
      slow.erase(slow.begin());
    }
    return tr.committed(0) == 100;
  }, 30));
  CHECK(seen.size() == 100);
  CHECK(c.stats().parked > 0);
  CHECK(c.commit() == status::ok);
  CHECK(cl.committed("g", "t", 1)[0] == 100);
}

TEST_CASE("consumer: a committed offset beyond the log (topic recreated) resets to the beginning; nothing stalls or is skipped") {
  mock::cluster cl;
  cl.create_topic("t", 1);
  cl.produce("t", 1, 30);
  REQUIRE(cl.commit("g", "t", 0, 500) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(cl.committed("g", "t", 1)[0] == 500);
  tracker_t tr;
  kafka::consumer<tracker_t> c(tr, {cl.brokers, "g", {"t"}, kSession, 1000, 5000, mock::quiet()});
  REQUIRE(c.start() == status::ok);
  std::set<std::int64_t> seen;
  REQUIRE(wait_for([&] {
    c.poll(20, [&](kafka::record&& r) {
      seen.insert(r.offset);
      CHECK(c.complete(r) == status::ok);
    });
    return tr.committed(0) == 30;
  }, 20));
  CHECK(seen.size() == 30);
  CHECK(c.stats().resets == 1);
  CHECK(c.commit() == status::ok);
  CHECK(cl.committed("g", "t", 1)[0] == 30);  // the explicit way back, then forward again
}

TEST_CASE("to_status: librdkafka errors map to what the caller does next") {
  using kafka::to_status;
  CHECK(to_status(RD_KAFKA_RESP_ERR_NO_ERROR) == status::ok);
  CHECK(to_status(RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION) == status::fenced);
  CHECK(to_status(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID) == status::fenced);
  CHECK(to_status(RD_KAFKA_RESP_ERR_PRODUCER_FENCED) == status::fenced);
  CHECK(to_status(RD_KAFKA_RESP_ERR__FENCED) == status::fenced);
  CHECK(to_status(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS) == status::invalid_state);
  CHECK(to_status(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER) == status::out_of_order);
  CHECK(to_status(RD_KAFKA_RESP_ERR_DUPLICATE_SEQUENCE_NUMBER) == status::duplicate);
  CHECK(to_status(RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID) == status::unknown_producer);
  CHECK(to_status(RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS) == status::concurrent_transactions);
  CHECK(to_status(RD_KAFKA_RESP_ERR__QUEUE_FULL) == status::window_full);
  CHECK(to_status(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) == status::not_found);
  CHECK(to_status(RD_KAFKA_RESP_ERR__INVALID_ARG) == status::invalid_argument);
  CHECK(to_status(RD_KAFKA_RESP_ERR_INVALID_MSG) == status::corrupt);
  CHECK(to_status(RD_KAFKA_RESP_ERR__TRANSPORT) == status::io_error);
  CHECK(to_status(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) == status::io_error);
  CHECK(to_status(RD_KAFKA_RESP_ERR_NOT_COORDINATOR) == status::io_error);
  CHECK(to_status(static_cast<const rd_kafka_error_t*>(nullptr)) == status::ok);
  // Every code librdkafka can report gets some status (and a name).
  for (int e = RD_KAFKA_RESP_ERR__BEGIN; e < RD_KAFKA_RESP_ERR_END_ALL; ++e)
    CHECK(offseq::to_string(to_status(static_cast<rd_kafka_resp_err_t>(e))) != nullptr);
}
