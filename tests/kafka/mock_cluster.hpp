// librdkafka's in-process mock cluster (rdkafka_mock.h) for the Kafka binding tests: brokers
// on 127.0.0.1, topics, request-error injection, and small helpers to produce, read back and
// look up a group's committed offsets. No Kafka server is installed or contacted.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <librdkafka.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace mock {

// Kafka protocol ApiKeys (rdkafka_protocol.h is not installed by librdkafka-dev).
namespace api {
constexpr std::int16_t produce = 0, fetch = 1, offset_commit = 8, offset_fetch = 9, heartbeat = 12,
                       init_producer_id = 22, add_partitions_to_txn = 24, add_offsets_to_txn = 25, end_txn = 26,
                       txn_offset_commit = 28;
}

// Quiet clients: injected errors are expected here, their log lines are noise.
inline offseq::kafka::properties quiet() { return {{"log_level", "0"}}; }

inline rd_kafka_t* make_client(rd_kafka_type_t type, const offseq::kafka::properties& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& kv : props)
    if (rd_kafka_conf_set(conf, kv.first.c_str(), kv.second.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      throw std::runtime_error(kv.first + ": " + err);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(err);
  return rk;
}

struct cluster {
  rd_kafka_t* owner = nullptr;  // the mock cluster lives inside a client instance
  rd_kafka_mock_cluster_t* mc = nullptr;
  std::string brokers;

  explicit cluster(int broker_count = 3) {
    owner = make_client(RD_KAFKA_PRODUCER, quiet());
    mc = rd_kafka_mock_cluster_new(owner, broker_count);
    if (!mc) throw std::runtime_error("rd_kafka_mock_cluster_new failed");
    brokers = rd_kafka_mock_cluster_bootstraps(mc);
  }
  ~cluster() {
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(owner);
  }
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  void create_topic(const std::string& topic, int partitions) {
    if (rd_kafka_mock_topic_create(mc, topic.c_str(), partitions, 1)) throw std::runtime_error("topic_create");
  }
  void fail_next(std::int16_t api_key, std::vector<rd_kafka_resp_err_t> errors) {
    rd_kafka_mock_push_request_errors_array(mc, api_key, errors.size(), errors.data());
  }

  offseq::kafka::properties props() const {
    auto p = quiet();
    p.emplace_back("bootstrap.servers", brokers);
    return p;
  }

  /// Produces n messages round-robin over the partitions ("p<partition>-<i>"); returns each
  /// partition's end offset.
  std::vector<std::int64_t> produce(const std::string& topic, int partitions, int n) {
    rd_kafka_t* p = make_client(RD_KAFKA_PRODUCER, props());
    for (int i = 0; i < n; ++i) {
      const int part = i % partitions;
      const std::string v = "p" + std::to_string(part) + "-" + std::to_string(i);
      rd_kafka_resp_err_t e;
      while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(part),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 10);
      if (e) throw std::runtime_error(rd_kafka_err2str(e));
    }
    if (rd_kafka_flush(p, 10000)) throw std::runtime_error("flush");
    rd_kafka_destroy(p);
    std::vector<std::int64_t> ends;
    for (int part = 0; part < partitions; ++part) ends.push_back(end_offset(topic, part));
    return ends;
  }

  std::int64_t end_offset(const std::string& topic, int partition) {
    rd_kafka_t* c = make_client(RD_KAFKA_CONSUMER, props());
    std::int64_t lo = -1, hi = -1;
    rd_kafka_query_watermark_offsets(c, topic.c_str(), partition, &lo, &hi, 5000);
    rd_kafka_destroy(c);
    return hi;
  }

  /// Every message of a partition, from the beginning to its end: (offset, message copy).
  struct message {
    std::int64_t offset;
    std::string value;
    bool has_batch;
    offseq::batch_header batch;
  };
  std::vector<message> read_all(const std::string& topic, int partition) {
    const std::int64_t end = end_offset(topic, partition);
    auto pr = props();
    pr.emplace_back("group.id", "mock-read-all");  // consumer_poll needs one; never committed
    pr.emplace_back("enable.auto.commit", "false");
    rd_kafka_t* c = make_client(RD_KAFKA_CONSUMER, pr);
    auto l = offseq::kafka::detail::make_list(1);
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l.get());
    std::vector<message> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::int64_t next = 0;
    while (next < end && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
      if (!m) continue;
      if (!m->err) {
        message msg{m->offset, std::string(static_cast<const char*>(m->payload), m->len), false, {}};
        msg.has_batch = offseq::kafka::batch_of(m, msg.batch);
        out.push_back(std::move(msg));
        next = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(c, nullptr);
    rd_kafka_destroy(c);
    if (next < end) throw std::runtime_error("read_all: timed out");
    return out;
  }

  /// Commits `offset` for the group as a standalone (group-less member) commit.
  rd_kafka_resp_err_t commit(const std::string& group, const std::string& topic, int partition, std::int64_t offset) {
    auto pr = props();
    pr.emplace_back("group.id", group);
    pr.emplace_back("enable.auto.commit", "false");
    rd_kafka_t* c = make_client(RD_KAFKA_CONSUMER, pr);
    auto l = offseq::kafka::detail::make_list(1);
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), partition)->offset = offset;
    const rd_kafka_resp_err_t e = rd_kafka_commit(c, l.get(), 0);
    rd_kafka_destroy(c);
    return e;
  }

  /// The group's committed offset for each partition (-1 when none).
  std::vector<std::int64_t> committed(const std::string& group, const std::string& topic, int partitions) {
    auto pr = props();
    pr.emplace_back("group.id", group);
    rd_kafka_t* c = make_client(RD_KAFKA_CONSUMER, pr);
    auto l = offseq::kafka::detail::make_list(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), p);
    rd_kafka_committed(c, l.get(), 5000);
    std::vector<std::int64_t> out;
    for (int p = 0; p < partitions; ++p) out.push_back(l->elems[p].offset >= 0 ? l->elems[p].offset : -1);
    rd_kafka_destroy(c);
    return out;
  }
};

}  // namespace mock
