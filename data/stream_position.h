// StreamCut: where one worker stands in a stream (dir:// or kafka://) at a checkpoint cut, and
// how the cuts of every worker become the starting points of a resumed run on any number of
// workers.
//
// A cut records, per partition or part of the worker's share, the start of the first event
// it has NOT trained (Kafka: the next offset; dir://: the byte offset of the next line). It
// is taken after a batch whose pushes are acknowledged, in the same pause in which the servers
// write their rows (train_protocol.h), so the model in the checkpoint holds exactly the events
// before these positions. Events read ahead (queued batches, the prefetched batch) are after
// the positions and are read again on resume.
//
// On resume the positions of all old workers are merged (a partition or part belongs to one
// worker at a time, so their keys are disjoint) and every new worker gets the whole map: the
// stream source takes the entries of its own share (partitions or parts assigned by index
// modulo the new worker count, stream_source.h), so each continues where its old owner
// stopped, and every event is trained exactly once across the kill and the resume.
//
// --trained_log (worker/trained_log.h): `trained_logs` maps a log's worker index to its
// length in bytes at the cut. A resumed run cuts each log back to that length, so the logs
// hold exactly the events of the committed model; new worker w cuts the logs of the old
// indexes j with j % new_workers == w (and appends to its own).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>

#include "core/status.h"
#include "data/stream_source.h"

namespace embark {

struct StreamCut {
  std::string stream;       // StreamIdentity() of the stream the positions belong to
  StreamPositions next;     // per partition (decimal) or part name: the first event not trained
  std::map<int32_t, uint64_t> trained_logs;  // --trained_log: worker index -> committed bytes
  template <class A> void serialize(A& ar) { ar(stream, next, trained_logs); }
};

// What a resumed worker is sent (train_protocol.h, kTrainResumeStream).
struct StreamResume {
  StreamPositions start;                  // every old worker's positions, merged
  std::map<int32_t, uint64_t> truncate;   // trained logs this worker cuts back: index -> bytes
  template <class A> void serialize(A& ar) { ar(start, truncate); }
};

// What positions are valid for: a Kafka topic ("kafka TOPIC"; the brokers may move, a
// resumed job may reach the same topic through other addresses) or a directory ("dir PATH").
std::string StreamIdentity(const std::string& spec);

// Merges the cuts of every old worker. Errors: a cut of another stream than `spec` (the
// checkpoint was taken on another --train), a partition or part in two cuts with different
// positions (a damaged checkpoint). `source` names the checkpoint in errors.
Status MergeStreamCuts(const std::vector<StreamCut>& cuts, const std::string& spec, const std::string& source,
                       StreamCut* merged);

// The resume message of each of `new_workers` workers from the merged cut.
std::vector<StreamResume> AssignStreamResume(const StreamCut& merged, int new_workers);

}  // namespace embark
