#include "data/kafka_stream.h"

#include <glog/logging.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <memory>
#include <thread>
#include <utility>

namespace embark {

// librdkafka reports failures through its error callback, on its own thread; the opaque
// pointer leads here so Open() can name the last one in its timeout message.
struct KafkaErrorSink {
  std::mutex mu;
  std::string last;
};

namespace {

void OnError(rd_kafka_t* rk, int err, const char* reason, void*) {
  auto* sink = static_cast<KafkaErrorSink*>(rd_kafka_opaque(rk));
  if (sink == nullptr) return;
  std::lock_guard<std::mutex> lock(sink->mu);
  sink->last = std::string(rd_kafka_err2str(static_cast<rd_kafka_resp_err_t>(err))) + ": " + reason;
}

}  // namespace

Status ParseKafkaSpec(const std::string& spec, KafkaAddress* out) {
  const std::string usage = "'" + spec + "' is not kafka://HOST:PORT[,HOST:PORT]/TOPIC";
  if (spec.rfind("kafka://", 0) != 0) return Status::InvalidArgument(usage);
  const std::string rest = spec.substr(8);
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size()) return Status::InvalidArgument(usage);
  out->brokers = rest.substr(0, slash);
  out->topic = rest.substr(slash + 1);
  if (out->topic.find('/') != std::string::npos) return Status::InvalidArgument(usage + " (a topic has no '/')");
  size_t start = 0;
  for (;;) {
    const size_t comma = out->brokers.find(',', start);
    const std::string broker = out->brokers.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t colon = broker.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 >= broker.size() ||
        broker.find_first_not_of("0123456789", colon + 1) != std::string::npos) {
      return Status::InvalidArgument(usage + ": broker '" + broker + "' needs HOST:PORT");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return Status::OK();
}

KafkaStream::KafkaStream(std::string spec, KafkaAddress address, StreamOptions options)
    : spec_(std::move(spec)), address_(std::move(address)), options_(std::move(options)),
      errors_(std::make_unique<KafkaErrorSink>()) {}

KafkaStream::~KafkaStream() {
  if (rk_ != nullptr) {
    rd_kafka_assign(rk_, nullptr);
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }
}

Status KafkaStream::Open() {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // group.id only names the client: partitions are assigned by hand, never by the group.
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", address_.brokers},
      {"group.id", "embark"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "error"},
      {"enable.partition.eof", "false"},
      {"allow.auto.create.topics", "false"},  // a mistyped topic is an error, not a new topic
      {"log_level", "3"},
      {"reconnect.backoff.max.ms", "1000"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::Internal(spec_ + ": librdkafka refused " + name + "=" + value + ": " + err);
    }
  }
  rd_kafka_conf_set_error_cb(conf, &OnError);
  rd_kafka_conf_set_opaque(conf, errors_.get());
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk_ == nullptr) return Status::Internal(spec_ + ": cannot create a Kafka consumer: " + err);

  // The topic's partitions, asked until a broker answers or the start-up timeout passes.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(options_.startup_timeout_s * 1000));
  // All topics are listed rather than this one asked for: asking by name lets a broker that
  // auto-creates topics create a mistyped one.
  std::string last_error;
  std::vector<int32_t> all;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    const struct rd_kafka_metadata* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk_, 1, nullptr, &md, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      bool found = false;
      for (int t = 0; t < md->topic_cnt; ++t) {
        if (address_.topic != md->topics[t].topic) continue;
        found = true;
        if (md->topics[t].err != RD_KAFKA_RESP_ERR_NO_ERROR) last_error = rd_kafka_err2str(md->topics[t].err);
        for (int p = 0; p < md->topics[t].partition_cnt; ++p) all.push_back(md->topics[t].partitions[p].id);
      }
      rd_kafka_metadata_destroy(md);
      // The brokers answered: a missing topic is an error now, not after the timeout.
      if (!found) return Status::NotFound(spec_ + ": the brokers answered but have no topic " + address_.topic);
      if (!all.empty()) break;
    } else {
      last_error = rd_kafka_err2str(e);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (all.empty()) {
    std::string detail;
    {
      std::lock_guard<std::mutex> lock(errors_->mu);
      detail = errors_->last;
    }
    return Status::Timeout(spec_ + ": no Kafka broker of " + address_.brokers + " answered within " +
                           std::to_string(options_.startup_timeout_s) + " s (--startup_timeout): " +
                           (detail.empty() ? last_error : detail));
  }
  std::sort(all.begin(), all.end());
  for (int32_t p : all) {
    if (p % options_.num_workers == options_.worker_index) partitions_.push_back(p);
  }
  if (partitions_.empty()) {
    LOG(WARNING) << spec_ << ": worker " << options_.worker_index << " of " << options_.num_workers
                 << " reads nothing: the topic has only " << all.size() << " partitions";
  }
  for (const auto& [key, offset] : options_.start) {
    const int32_t p = static_cast<int32_t>(std::strtol(key.c_str(), nullptr, 10));
    if (std::to_string(p) != key || !std::binary_search(all.begin(), all.end(), p)) {
      return Status::NotFound(spec_ + ": a saved position names partition '" + key + "', which topic " +
                              address_.topic + " does not have (it has " + std::to_string(all.size()) + ")");
    }
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size()));
  for (int32_t p : partitions_) {
    auto it = options_.start.find(std::to_string(p));
    const int64_t offset = it == options_.start.end() ? RD_KAFKA_OFFSET_BEGINNING : static_cast<int64_t>(it->second);
    rd_kafka_topic_partition_list_add(list, address_.topic.c_str(), p)->offset = offset;
    next_.push_back(it == options_.start.end() ? -1 : offset);
  }
  rd_kafka_resp_err_t e = rd_kafka_assign(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Internal(spec_ + ": cannot assign partitions: " + rd_kafka_err2str(e));
  return Status::OK();
}

Status KafkaStream::Next(StreamEvent* event, int timeout_ms, bool* got, bool* finished) {
  *got = false;
  // A topic has no end; but a worker with no partition (more workers than partitions) can
  // never get an event, and must not keep a job with --max_events waiting.
  *finished = partitions_.empty();
  if (partitions_.empty()) return Status::OK();
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
  if (m == nullptr) return Status::OK();
  std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(m, &rd_kafka_message_destroy);
  const std::string where = spec_ + " partition " + std::to_string(m->partition) +
                            (m->offset >= 0 ? " offset " + std::to_string(m->offset) : std::string());
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE || m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
      const auto it = std::find(partitions_.begin(), partitions_.end(), m->partition);
      const int64_t wanted = it == partitions_.end() ? -1 : next_[static_cast<size_t>(it - partitions_.begin())];
      return Status::NotFound(spec_ + " partition " + std::to_string(m->partition) + ": offset " +
                              std::to_string(wanted) + " is no longer on the broker (deleted by retention?): " +
                              rd_kafka_message_errstr(m));
    }
    if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
      return Status::NotFound(where + ": the topic or partition is gone: " + rd_kafka_message_errstr(m));
    }
    // Transient (a broker restarting): librdkafka retries by itself; say so and go on.
    LOG(WARNING) << where << ": " << rd_kafka_message_errstr(m) << " (retrying)";
    return Status::OK();
  }
  const auto it = std::find(partitions_.begin(), partitions_.end(), m->partition);
  if (it == partitions_.end()) return Status::Internal(where + ": a message from a partition this worker does not read");
  next_[static_cast<size_t>(it - partitions_.begin())] = m->offset + 1;
  event->line.assign(static_cast<const char*>(m->payload), m->payload != nullptr ? m->len : 0);
  while (!event->line.empty() && (event->line.back() == '\n' || event->line.back() == '\r')) event->line.pop_back();
  event->key = std::to_string(m->partition);
  event->offset = static_cast<uint64_t>(m->offset);
  event->next = static_cast<uint64_t>(m->offset) + 1;
  event->line_number = 0;
  rd_kafka_timestamp_type_t type;
  event->timestamp_ms = rd_kafka_message_timestamp(m, &type);
  *got = true;
  return Status::OK();
}

StreamPositions KafkaStream::Positions() const {
  StreamPositions out;
  // A partition not read from yet keeps its starting position: the saved one, or 0 (the
  // beginning; a topic's first offset is 0 until retention removes the head).
  for (size_t i = 0; i < partitions_.size(); ++i) {
    out[std::to_string(partitions_[i])] = next_[i] < 0 ? 0 : static_cast<uint64_t>(next_[i]);
  }
  return out;
}

int64_t KafkaStream::Lag() {
  int64_t lag = 0;
  for (size_t i = 0; i < partitions_.size(); ++i) {
    int64_t low = 0, high = 0;
    // The watermarks the last fetch brought (no broker round trip; the reader asks often).
    if (rd_kafka_get_watermark_offsets(rk_, address_.topic.c_str(), partitions_[i], &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
      return -1;
    }
    lag += high - std::max<int64_t>(next_[i] < 0 ? low : next_[i], low);
  }
  return lag;
}

}  // namespace embark
