// KafkaStream: the events of one Kafka topic (kafka://HOST:PORT[,HOST:PORT]/TOPIC) read through
// librdkafka, one message = one line of the job's --format.
//
// No consumer group decides who reads what: Open() asks the brokers for the topic's partitions
// and worker w of W assigns itself the partitions p with p % W == w, starting at the offsets
// it was given (else at the beginning of each partition). Offsets are never committed to the
// broker; Positions() is the job's record of where to go on. A worker left without a
// partition (more workers than partitions) is finished at once.
//
// Errors are clear and bounded in time: no broker answering within startup_timeout_s names
// the brokers; an unknown topic names it; an offset the broker no longer has (deleted by
// retention) names the topic, partition and offset (auto.offset.reset is "error": an
// offset is never silently moved).
//
// Thread-safety: as StreamSource (one thread); librdkafka's own threads are internal.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/stream_source.h"

struct rd_kafka_s;
struct rd_kafka_topic_partition_list_s;

namespace embark {

struct KafkaErrorSink;

struct KafkaAddress {
  std::string brokers;  // "host:port,host:port" (librdkafka's bootstrap.servers)
  std::string topic;
};
// "kafka://HOST:PORT[,HOST:PORT]/TOPIC" -> address; anything else is InvalidArgument.
Status ParseKafkaSpec(const std::string& spec, KafkaAddress* out);

class KafkaStream : public StreamSource {
 public:
  KafkaStream(std::string spec, KafkaAddress address, StreamOptions options);
  ~KafkaStream() override;
  KafkaStream(const KafkaStream&) = delete;
  KafkaStream& operator=(const KafkaStream&) = delete;

  Status Open() override;
  Status Next(StreamEvent* event, int timeout_ms, bool* got, bool* finished) override;
  StreamPositions Positions() const override;
  int64_t Lag() override;
  const std::string& spec() const override { return spec_; }
  // The partitions this worker reads (after Open), ascending.
  const std::vector<int32_t>& partitions() const { return partitions_; }

 private:
  const std::string spec_;
  const KafkaAddress address_;
  const StreamOptions options_;
  std::unique_ptr<KafkaErrorSink> errors_;  // outlives rk_ (destroyed after it)
  rd_kafka_s* rk_ = nullptr;
  std::vector<int32_t> partitions_;
  std::vector<int64_t> next_;  // per partitions_ entry: the next offset to read
};

}  // namespace embark
