// TrainedLog: --trained_log=PATH, the ids of the stream events a worker trained, for tests and
// audits that count events across kills and resumes.
//
// Worker w appends to PATH.<w> one line per trained event, after the batch's pushes were
// acknowledged: "KEY<TAB>NUMBER", where KEY is the Kafka partition (decimal) or the dir://
// part's file name and NUMBER the Kafka offset or the 1-based line number in the part. Each
// batch's lines are written at once (one write); Commit() syncs the file, and a checkpoint
// cut records the length Commit() returns (StreamCut::trained_logs). A resumed run first cuts every log back
// to its recorded length (Open's `truncate`): what a killed run logged after its last cut is
// gone with the training it stands for, so the logs always list exactly the events in the
// model a run ends with or resumes from ("exactly once in the committed model").
// A log shorter than its recorded length cannot be cut back and is an error naming it.
//
// Thread-safety: one thread (the worker's training loop).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/status.h"
#include "data/batch.h"

namespace embark {

class TrainedLog {
 public:
  TrainedLog() = default;
  ~TrainedLog();
  TrainedLog(const TrainedLog&) = delete;
  TrainedLog& operator=(const TrainedLog&) = delete;

  // Cuts PATH.<index> back to `bytes` for every entry of `truncate`, then opens PATH.<worker>
  // for appending; `fresh`: it is emptied first (a run that starts the stream from the
  // beginning).
  Status Open(const std::string& path, int worker, const std::map<int32_t, uint64_t>& truncate, bool fresh);
  // Appends the ids of `batch`'s examples (Batch::event_keys / event_numbers).
  Status Append(const Batch& batch);
  // Syncs the file; *bytes = its length (may be null).
  Status Commit(uint64_t* bytes);
  const std::string& path() const { return path_; }

 private:
  Status WriteBuffer();

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;  // bytes in the file, written ones included
  std::string buffer_;
};

}  // namespace embark
