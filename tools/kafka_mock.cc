#include "tools/kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

namespace embark {
namespace {

std::atomic<bool> g_stop{false};
void OnStopSignal(int) { g_stop.store(true); }

}  // namespace

KafkaMockCluster::~KafkaMockCluster() {
  if (producer_ != nullptr) {
    rd_kafka_flush(producer_, 2000);
    rd_kafka_destroy(producer_);
  }
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (owner_ != nullptr) rd_kafka_destroy(owner_);
}

Status KafkaMockCluster::Start(int brokers) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (owner_ == nullptr) return Status::Internal(std::string("kafka mock: cannot create a handle: ") + err);
  cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
  if (cluster_ == nullptr) return Status::Internal("kafka mock: librdkafka could not start a mock cluster");
  conf = rd_kafka_conf_new();
  const std::string servers = bootstraps();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", servers.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return Status::Internal(std::string("kafka mock: ") + err);
  }
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (producer_ == nullptr) return Status::Internal(std::string("kafka mock: cannot create a producer: ") + err);
  return Status::OK();
}

std::string KafkaMockCluster::bootstraps() const {
  return cluster_ == nullptr ? std::string() : std::string(rd_kafka_mock_cluster_bootstraps(cluster_));
}

Status KafkaMockCluster::CreateTopic(const std::string& topic, int partitions) {
  rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal("kafka mock: cannot create topic " + topic + ": " + rd_kafka_err2str(e));
  }
  return Status::OK();
}

Status KafkaMockCluster::Produce(const std::string& topic, int32_t partition, const std::vector<std::string>& lines,
                                 int timeout_ms) {
  for (const std::string& line : lines) {
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_VALUE(const_cast<char*>(line.data()), line.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return Status::Internal("kafka mock: cannot produce to " + topic + " partition " + std::to_string(partition) +
                                ": " + rd_kafka_err2str(e));
      }
      rd_kafka_poll(producer_, 50);  // the local queue is full: let deliveries drain it
    }
  }
  if (rd_kafka_flush(producer_, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Timeout("kafka mock: the brokers did not acknowledge " + std::to_string(lines.size()) +
                           " messages within " + std::to_string(timeout_ms) + " ms");
  }
  return Status::OK();
}

Status KafkaMockCluster::Watermarks(const std::string& topic, int32_t partition, int64_t* low, int64_t* high) {
  rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(producer_, topic.c_str(), partition, low, high, 5000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal("kafka mock: no watermarks of " + topic + " partition " + std::to_string(partition) + ": " +
                            rd_kafka_err2str(e));
  }
  return Status::OK();
}

Status RunKafkaMockCommand(const KafkaMockOptions& o) {
  if (o.topic.empty()) return Status::InvalidArgument("kafka-mock: --topic must not be empty");
  if (o.partitions < 1) return Status::InvalidArgument("kafka-mock: --partitions must be at least 1");
  if (o.brokers < 1) return Status::InvalidArgument("kafka-mock: --brokers must be at least 1");
  if (o.rate < 0 || o.seconds < 0) return Status::InvalidArgument("kafka-mock: --rate and --seconds must not be negative");
  std::vector<std::string> lines;
  if (!o.input.empty()) {
    std::ifstream in(o.input);
    if (!in) return Status::NotFound("kafka-mock: cannot open --input=" + o.input);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  KafkaMockCluster cluster;
  EMBARK_RETURN_IF_ERROR(cluster.Start(o.brokers));
  EMBARK_RETURN_IF_ERROR(cluster.CreateTopic(o.topic, o.partitions));
  const std::string servers = cluster.bootstraps();
  if (!o.bootstrap_out.empty()) {
    const std::string tmp = o.bootstrap_out + ".tmp";
    {
      std::ofstream out(tmp);
      out << servers << "\n";
      if (!out) return Status::IoError("kafka-mock: cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), o.bootstrap_out.c_str()) != 0) return Status::IoError("kafka-mock: cannot write " + o.bootstrap_out);
  }
  std::printf("bootstrap %s topic %s partitions %d\n", servers.c_str(), o.topic.c_str(), o.partitions);
  std::fflush(stdout);
  signal(SIGTERM, OnStopSignal);
  signal(SIGINT, OnStopSignal);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  // Paced: a chunk of lines per partition every 100 ms; unpaced: all at once.
  size_t next = 0;
  while (next < lines.size() && !g_stop.load()) {
    const size_t due = o.rate > 0 ? std::min(lines.size(), static_cast<size_t>(elapsed() * o.rate) + 1) : lines.size();
    std::vector<std::vector<std::string>> per(static_cast<size_t>(o.partitions));
    for (; next < due; ++next) per[next % static_cast<size_t>(o.partitions)].push_back(lines[next]);
    for (int p = 0; p < o.partitions; ++p) {
      if (!per[static_cast<size_t>(p)].empty()) EMBARK_RETURN_IF_ERROR(cluster.Produce(o.topic, p, per[static_cast<size_t>(p)]));
    }
    if (next < lines.size()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // librdkafka's mock brokers keep a bounded log per partition (about 5 MB) and drop the
  // oldest messages beyond it; a consumer would then silently start later. Refuse instead.
  for (int p = 0; p < o.partitions; ++p) {
    int64_t low = 0, high = 0;
    if (cluster.Watermarks(o.topic, p, &low, &high).ok() && low > 0) {
      return Status::InvalidArgument("kafka-mock: partition " + std::to_string(p) + " of " + o.topic + " kept only offsets " +
                                     std::to_string(low) + ".." + std::to_string(high - 1) +
                                     ": the mock cluster keeps about 5 MB per partition; use more --partitions");
    }
  }
  std::printf("produced %zu lines\n", next);
  std::fflush(stdout);
  while (!g_stop.load() && (o.seconds <= 0 || elapsed() < o.seconds)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::OK();
}

}  // namespace embark
