// KafkaMockCluster: librdkafka's own mock Kafka cluster (rdkafka_mock.h) -- real brokers
// speaking the Kafka protocol on loopback TCP, inside this process -- with a producer, for
// tests and demos of kafka:// training without a Kafka installation.
//
// `embark kafka-mock` (RunKafkaMockCommand) starts one, creates a topic, produces the lines of
// a file into it (line i into partition i % partitions, optionally paced at --rate lines/s),
// prints "bootstrap HOST:PORT,..." and serves until SIGTERM/SIGINT or --seconds. The mock
// brokers keep about 5 MB per partition and drop older messages; the command refuses an input
// that lost messages that way (use more partitions).
//
// Thread-safety: a KafkaMockCluster is used from one thread; the brokers run on librdkafka's
// threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace embark {

class KafkaMockCluster {
 public:
  KafkaMockCluster() = default;
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  Status Start(int brokers);
  // "127.0.0.1:PORT,..." of the brokers (after Start).
  std::string bootstraps() const;
  Status CreateTopic(const std::string& topic, int partitions);
  // Produces `lines` into `partition` of `topic` (one message each) and waits until the
  // brokers acknowledged them all, at most timeout_ms.
  Status Produce(const std::string& topic, int32_t partition, const std::vector<std::string>& lines,
                 int timeout_ms = 10000);
  // The oldest offset the brokers still hold and the next one to be written.
  Status Watermarks(const std::string& topic, int32_t partition, int64_t* low, int64_t* high);

 private:
  rd_kafka_s* owner_ = nullptr;     // the handle the mock cluster hangs off
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
  rd_kafka_s* producer_ = nullptr;  // connected to the mock brokers
};

struct KafkaMockOptions {
  std::string topic = "events";
  int partitions = 3;
  int brokers = 1;
  std::string input;          // lines to produce (optional)
  double rate = 0;            // lines per second; 0 = all at once
  double seconds = 0;         // serve this long; 0 = until SIGTERM/SIGINT
  std::string bootstrap_out;  // also write the bootstrap list to this file
};
Status RunKafkaMockCommand(const KafkaMockOptions& options);

}  // namespace embark
