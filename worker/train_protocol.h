// Messages between training workers and the scheduler's training app (MsgType::kApp payloads,
// Cereal binary). Subtypes are the MsgHeader::aux values.
//
// Clocks: a worker's clock in an epoch is the number of batches it has finished (pushes
// acknowledged). Before it starts batch c it waits until c - min_clock <= staleness, where
// min_clock is the smallest clock of the workers still in the epoch (BSP: staleness 0; ASP:
// no wait). A worker that ran out of data for the epoch leaves the minimum.
//
// Steps: a step is one batch clock. The job's global step count is the sum, over the epochs
// trained so far, of the highest clock any worker reached in them (so with balanced workers,
// the number of batches each worker trained since the start).
//
// Mid-epoch checkpoints (--checkpoint_every in steps or time): the scheduler sends kTrainCut
// with a clock C above every clock it has seen (the highest + 1), so no worker has to go
// back. Each worker, after finishing a batch with clock >= C (its pushes acknowledged), sends
// kTrainPaused with its InputPosition and waits for kTrainCutDone; a worker that finishes its
// share of the epoch first just reports kTrainEpochDone (nothing of it remains).
//
// Streams (data/stream_position.h): the position a stream worker sends at a cut is a
// StreamCut (the first event of each partition or part it has not trained). A stream worker
// whose stream ends sends kTrainStreamEnd with its final position before kTrainEpochDone, so
// a later cut still records where its share stopped. A resumed stream worker gets
// kTrainResumeStream before kTrainStart. kTrainCutDone's payload is the checkpoint's name,
// followed by "\nstop" when the job is stopping (SIGTERM): the worker then ends its stream
// there, at the cut, instead of going on.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include "ps/server_protocol.h"

namespace embark {

enum TrainMsg : uint64_t {
  kTrainClock = 101,      // worker -> scheduler: ClockReport
  kTrainMinClock = 102,   // scheduler -> workers: MinClock
  kTrainEpochDone = 103,  // worker -> scheduler: EpochDone
  kTrainEval = 104,       // worker -> scheduler: EvalReport
  kTrainStart = 105,      // scheduler -> workers: first epoch to train (after a restore), as text
  kTrainCheckpointed = 106,  // scheduler -> workers: the checkpoint after epoch N is complete
  kTrainCut = 107,        // scheduler -> workers: CutRequest
  kTrainPaused = 108,     // worker -> scheduler: EncodePosition(InputPosition) at the cut
  kTrainCutDone = 109,    // scheduler -> paused workers: the mid-epoch checkpoint is written; go on
  kTrainResumeInput = 110,  // scheduler -> worker, before kTrainStart: the RemainingInput of the
                            // interrupted epoch it is to train (a resume from a mid-epoch cut)
  kTrainStreamEnd = 111,  // worker -> scheduler: EncodePosition(InputPosition) where its stream ended
  kTrainResumeStream = 112,  // scheduler -> worker, before kTrainStart: StreamResume
  kTrainValidEval = 113,  // worker -> scheduler: EvalReport of the validation set (--valid, --valid_fraction)
  kTrainVerdict = 114,    // scheduler -> workers, after every epoch with --early_stop: "go on" or "stop"
};

struct ClockReport {
  int32_t epoch = 0;
  uint64_t clock = 0;        // batches finished in this epoch
  uint64_t examples = 0;     // examples trained in this epoch so far
  double loss_sum = 0;       // training loss summed over those examples
  template <class A> void serialize(A& ar) { ar(epoch, clock, examples, loss_sum); }
};

struct CutRequest {
  int32_t epoch = 0;
  uint64_t clock = 0;      // pause after the first batch boundary with clock >= this
  template <class A> void serialize(A& ar) { ar(epoch, clock); }
};

struct MinClock {
  int32_t epoch = 0;
  uint64_t min_clock = 0;
  template <class A> void serialize(A& ar) { ar(epoch, min_clock); }
};

struct EpochDone {
  int32_t epoch = 0;
  uint64_t clock = 0;
  uint64_t examples = 0;
  double loss_sum = 0;
  std::map<std::string, uint64_t> bad_lines;  // reason name -> lines skipped
  double seconds = 0;  // the worker's wall time training this epoch (no evaluation, no test loading)
  double load_seconds = 0;  // of `seconds`: reading the share into memory before training (--sync=local)
  // The epoch's traffic with the servers (KVClient::bytes_sent / bytes_received) and, with
  // --sync=local, its row reads from the worker's replica and the rows it pulled into it.
  uint64_t kv_bytes_sent = 0;
  uint64_t kv_bytes_received = 0;
  uint64_t replica_row_reads = 0;
  uint64_t replica_rows_pulled = 0;
  template <class A> void serialize(A& ar) {
    ar(epoch, clock, examples, loss_sum, bad_lines, seconds, load_seconds, kv_bytes_sent, kv_bytes_received,
       replica_row_reads, replica_rows_pulled);
  }
};

struct EvalReport {
  int32_t epoch = 0;
  std::string accumulator;          // Evaluation::Serialize()
  std::vector<float> predictions;   // final evaluation only, when predictions are requested
  template <class A> void serialize(A& ar) { ar(epoch, accumulator, predictions); }
};

template <class T>
std::string EncodeMsg(const T& value);
template <class T>
bool DecodeMsg(const std::string& bytes, T* value);

}  // namespace embark

#include <sstream>

#include <cereal/archives/binary.hpp>

#include "core/bounded_archive.h"

namespace embark {
template <class T>
std::string EncodeMsg(const T& value) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(value);
  }
  return os.str();
}
// The payload came from a peer: lengths are checked before anything is allocated.
template <class T>
bool DecodeMsg(const std::string& bytes, T* value) {
  std::string error;
  return DecodeBounded(bytes, value, &error);
}
}  // namespace embark
