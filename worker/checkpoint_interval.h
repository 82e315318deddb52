// CheckpointInterval: how often a training job checkpoints, parsed from --checkpoint_every.
//
// A number and a unit, no space: "1epoch", "2epochs" (after every N-th epoch, at the epoch
// boundary), "5000steps" / "1step" (a step is one batch clock of the workers; see
// train_protocol.h), "30s", "10m", "1h" (wall-clock time since the previous checkpoint).
// Step and time intervals cut mid-epoch.
//
// Thread-safety: plain values and a pure function.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace embark {

struct CheckpointInterval {
  enum class Unit { kNone, kEpochs, kSteps, kSeconds };
  Unit unit = Unit::kNone;
  uint64_t count = 0;  // epochs, steps or seconds
};

// Parses `text` (see above). An empty string gives Unit::kNone. Errors quote the text and
// list the units.
Status ParseCheckpointInterval(const std::string& text, CheckpointInterval* out);

}  // namespace embark
