// Publisher: `train --publish_dir=D` -- turns each completed checkpoint (the consistent cut the
// checkpoint protocol takes across servers) into the next serving version D/v-NNNNNNNNNN
// (serving/publish_dir.h) for `serve --watch --bundle=D`.
//
// Version n+1 is a delta against version n -- rows changed since, and tombstones (the delta's
// deleted keys) for rows gone since, e.g. evicted by TTL or the memory budget -- or, every
// full_every-th version and the first of a run, a full bundle. The delta is computed against a
// private full copy of the previous version, D/.last-full (not a version name, so readers
// ignore it). Each version is written by WriteBundle (temp directory, fsync, rename), so a
// reader never sees half a version. Versions older than the newest full one's predecessor
// chain are removed, keeping at most `keep` full chains.
//
// Thread-safety: none; the scheduler's thread only (TrainApp's checkpoint hook).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"

namespace embark {

class Publisher {
 public:
  Publisher(std::string dir, int full_every) : dir_(std::move(dir)), full_every_(full_every) {}
  // Publishes the checkpoint directory `checkpoint` (complete, MANIFEST written) as the next version.
  Status Publish(const std::string& checkpoint);

 private:
  std::string dir_;
  int full_every_;
  uint64_t next_ = 0;          // 0: not yet known (read from dir_ at the first publish)
  int since_full_ = 0;         // versions published since the last full one
};

// A checkpoint hook (TrainApp::SetCheckpointHook) that publishes every checkpoint into `dir`
// through one Publisher; empty when `dir` is empty.
std::function<Status(const std::string&)> PublishHook(const std::string& dir, int full_every);

}  // namespace embark
