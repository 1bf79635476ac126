// librdkafka's transactional producer against the mock cluster, as far as the mock goes
// (librdkafka 2.0.2): the API round trip and its error statuses through kafka::to_status.
// What the mock cannot show: its EndTxn writes no commit/abort markers, its Fetch reports
// LSO = high watermark and no aborted transactions, and its TxnOffsetCommit drops the offsets.
// So a read_committed reader sees aborted records, and no exactly-once claim is tested here;
// the WARNs below record that, and turn into failures to look at once a mock supports it.
#include <doctest/doctest.h>

#include "mock_cluster.hpp"

using offseq::status;
namespace kafka = offseq::kafka;

namespace {
struct txn_producer {
  rd_kafka_t* rk;
  explicit txn_producer(mock::cluster& cl, const std::string& id) {
    auto p = cl.props();
    p.emplace_back("transactional.id", id);
    rk = mock::make_client(RD_KAFKA_PRODUCER, p);
  }
  ~txn_producer() { rd_kafka_destroy(rk); }
  // The status of a transactional call; the error object says whether it is fatal.
  status call(rd_kafka_error_t* e, bool* fatal = nullptr) {
    const status s = kafka::to_status(e);
    if (fatal) *fatal = e && rd_kafka_error_is_fatal(e);
    if (e) rd_kafka_error_destroy(e);
    return s;
  }
  void produce(const std::string& topic, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string v = "v" + std::to_string(i);
      REQUIRE(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(const_cast<char*>(v.data()), v.size()),
                                RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
  }
  status send_offsets(const std::string& topic, std::int64_t next, const std::string& group) {
    auto l = kafka::detail::make_list(1);
    rd_kafka_topic_partition_list_add(l.get(), topic.c_str(), 0)->offset = next;
    rd_kafka_consumer_group_metadata_t* md = rd_kafka_consumer_group_metadata_new(group.c_str());
    const status s = call(rd_kafka_send_offsets_to_transaction(rk, l.get(), md, 5000));
    rd_kafka_consumer_group_metadata_destroy(md);
    return s;
  }
};
}  // namespace

TEST_CASE("transactions (mock): init, produce, send offsets, commit; retriable EndTxn errors are retried; abort") {
  mock::cluster cl;
  cl.create_topic("out", 1);
  cl.create_topic("in", 1);
  txn_producer p(cl, "gateway-1");
  REQUIRE(p.call(rd_kafka_init_transactions(p.rk, 10000)) == status::ok);
  REQUIRE(p.call(rd_kafka_begin_transaction(p.rk)) == status::ok);
  p.produce("out", 5);
  CHECK(p.send_offsets("in", 5, "g") == status::ok);
  // The coordinator is busy or moving: librdkafka retries EndTxn itself.
  cl.fail_next(mock::api::end_txn, {RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                    RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE});
  CHECK(p.call(rd_kafka_commit_transaction(p.rk, 10000)) == status::ok);
  CHECK(cl.read_all("out", 0).size() == 5);

  // A second commit without a transaction is refused by the client's state machine.
  CHECK(p.call(rd_kafka_commit_transaction(p.rk, 1000)) == status::invalid_state);

  REQUIRE(p.call(rd_kafka_begin_transaction(p.rk)) == status::ok);
  p.produce("out", 3);
  REQUIRE(rd_kafka_flush(p.rk, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  CHECK(p.call(rd_kafka_abort_transaction(p.rk, 10000)) == status::ok);
  // A real broker would hide the 3 aborted records from read_committed; the mock cannot.
  WARN_MESSAGE(cl.read_all("out", 0).size() == 8, "the mock now hides aborted records: add an exactly-once test");
  WARN_MESSAGE(cl.committed("g", "in", 1)[0] == -1, "the mock now applies TxnOffsetCommit: test it");
}

TEST_CASE("transactions (mock): a fenced producer's commit is fatal and maps to status::fenced") {
  mock::cluster cl;
  cl.create_topic("out", 1);
  txn_producer p(cl, "gateway-2");
  REQUIRE(p.call(rd_kafka_init_transactions(p.rk, 10000)) == status::ok);
  REQUIRE(p.call(rd_kafka_begin_transaction(p.rk)) == status::ok);
  p.produce("out", 2);
  REQUIRE(rd_kafka_flush(p.rk, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  // Another instance with the same transactional.id bumped the epoch (Kafka PRODUCER_FENCED).
  cl.fail_next(mock::api::end_txn, {RD_KAFKA_RESP_ERR_PRODUCER_FENCED});
  bool fatal = false;
  CHECK(p.call(rd_kafka_commit_transaction(p.rk, 10000), &fatal) == status::fenced);
  CHECK(fatal);
  // Fatal: every later transactional call fails the same way; the instance must be replaced.
  CHECK(p.call(rd_kafka_begin_transaction(p.rk)) == status::fenced);
}
