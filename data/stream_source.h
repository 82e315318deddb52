// StreamSource: an unbounded, ordered source of text lines for online training -- the events
// of a growing directory (dir://PATH, data/dir_stream.h) or of a Kafka topic
// (kafka://HOST:PORT[,HOST:PORT]/TOPIC, data/kafka_stream.h).
//
// Each worker of a job opens the same spec with its own (worker_index, num_workers) and gets a
// fixed, disjoint share of the stream: whole files (dir://) or whole partitions (kafka://),
// assigned by index modulo the worker count, never by a broker-side rebalance, so a share
// does not move while the job runs.
//
// Positions are the job's, not the broker's: Positions() says, per file or partition, where
// the next unread event starts (a byte offset in the file, the next Kafka offset). A source
// opened with such a map starts there, so a job that saves the map of every worker and
// reopens with their union (on any worker count) reads every event exactly once. Nothing is
// committed to a broker.
//
// Next() waits at most `timeout_ms` for an event. It distinguishes "nothing yet" (OK, *got =
// false) from "the stream is complete" (*finished = true: dir:// saw its _SUCCESS marker and
// everything of this worker was read; a Kafka topic never finishes) and from an error (a file
// that shrank or was replaced, a deleted offset, an unreachable broker), which names the file,
// or the topic, partition and offset.
//
// Thread-safety: one thread uses a source; it is not shared.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"

namespace embark {

// One event: a line of text, and where it came from.
struct StreamEvent {
  std::string line;        // without the trailing '\n' (or "\r\n")
  std::string key;         // the file name (dir://) or the partition number (kafka://)
  uint64_t offset = 0;     // byte offset of the line in its file, or the Kafka offset
  uint64_t next = 0;       // where the event after it starts: the position once it is read
  uint64_t line_number = 0;  // dir://: 1-based line in the file; kafka://: 0
  int64_t timestamp_ms = -1;  // kafka://: the message's timestamp; dir://: the file's mtime
  // For messages: "dir://D/FILE:LINE" or "kafka://BROKERS/TOPIC partition P offset O".
  std::string Where(const std::string& spec) const;
};

// Per file name or partition number: where the next unread event starts.
using StreamPositions = std::map<std::string, uint64_t>;

struct StreamOptions {
  int worker_index = 0;
  int num_workers = 1;
  double startup_timeout_s = 60;  // kafka://: longest wait for a broker to answer at Open()
  int poll_ms = 200;              // dir://: how often the directory is listed again
  StreamPositions start;          // empty: from the beginning
};

class StreamSource {
 public:
  virtual ~StreamSource() = default;
  virtual Status Open() = 0;
  virtual Status Next(StreamEvent* event, int timeout_ms, bool* got, bool* finished) = 0;
  // Where the next unread event of every file or partition of this worker's share starts.
  virtual StreamPositions Positions() const = 0;
  // Events not read yet that the source knows of (Kafka: the high watermarks of the last
  // fetches minus the positions, summed; dir://: bytes of ready parts not read); -1 if unknown.
  virtual int64_t Lag() = 0;
  virtual const std::string& spec() const = 0;
};

// True if `spec` names a stream (dir:// or kafka://) rather than files.
bool IsStreamSpec(const std::string& spec);
// Creates (does not open) the source `spec` names; an unknown scheme is InvalidArgument.
Status MakeStreamSource(const std::string& spec, const StreamOptions& options,
                        std::unique_ptr<StreamSource>* out);

}  // namespace embark
