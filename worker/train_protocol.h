// Messages between training workers and the scheduler's training app (MsgType::kApp payloads,
// Cereal binary). Subtypes are the MsgHeader::aux values.
//
// Clocks: a worker's clock in an epoch is the number of batches it has finished (pushes
// acknowledged). Before it starts batch c it waits until c - min_clock <= staleness, where
// min_clock is the smallest clock of the workers still in the epoch (BSP: staleness 0; ASP:
// no wait). A worker that ran out of data for the epoch leaves the minimum.
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

namespace embark {

enum TrainMsg : uint64_t {
  kTrainClock = 101,      // worker -> scheduler: ClockReport
  kTrainMinClock = 102,   // scheduler -> workers: MinClock
  kTrainEpochDone = 103,  // worker -> scheduler: EpochDone
  kTrainEval = 104,       // worker -> scheduler: EvalReport
  kTrainStart = 105,      // scheduler -> workers: first epoch to train (after a restore), as text
  kTrainCheckpointed = 106,  // scheduler -> workers: the checkpoint after epoch N is complete
  kServerSave = 201,      // scheduler -> servers: write your shard to this path
  kServerSaved = 202,     // server -> scheduler: "ok CHECKSUM" or the error
  kServerLoad = 203,      // scheduler -> servers: restore from these shard paths (one per line)
  kServerLoaded = 204,    // server -> scheduler: "ok" or the error
  kServerEpochEnd = 205,  // scheduler -> servers (bounded memory): every worker finished training epoch N
  kServerMemory = 206,    // server -> scheduler: its bounded-memory counters, "key=value ..."
};

struct ClockReport {
  int32_t epoch = 0;
  uint64_t clock = 0;        // batches finished in this epoch
  uint64_t examples = 0;     // examples trained in this epoch so far
  double loss_sum = 0;       // training loss summed over those examples
  template <class A> void serialize(A& ar) { ar(epoch, clock, examples, loss_sum); }
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
  template <class A> void serialize(A& ar) { ar(epoch, clock, examples, loss_sum, bad_lines); }
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
template <class T>
bool DecodeMsg(const std::string& bytes, T* value) {
  try {
    std::istringstream is(bytes, std::ios::binary);
    cereal::BinaryInputArchive ar(is);
    ar(*value);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace embark
