// CheckpointReader: reads a complete training checkpoint (epoch-N/ with its MANIFEST and one
// shard per server, see scheduler/train_app.cc and ps/checkpoint_shard.h) back into the model
// it came from and the weights of every table, merged over the shards and sorted by key.
//
// MANIFEST lines read here: "model NAME", "epoch N", "servers S", "shard FILE CHECKSUM",
// "format F", "option NAME VALUE" (models/model_spec.h), "metric NAME VALUE". Unknown lines
// are ignored, so newer checkpoints with extra lines stay readable. A checkpoint written
// before "option" lines existed rebuilds the model with its default options; its table widths
// are still checked against every shard, so a mismatch is refused, not misread.
//
// Only the weights are kept (the first TableConfig::dim floats of a sparse row, the block's
// length of a dense block); optimizer state is dropped.
//
// Thread-safety: a pure function of the files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/model.h"
#include "models/model_factory.h"
#include "models/model_spec.h"
#include "ps/table_config.h"

namespace embark {

// One table's weights: keys ascending; values keys.size() * width row-major. Sparse tables:
// width = TableConfig::dim. Dense tables: one row (key 0) of dense_size floats.
struct CheckpointTable {
  TableConfig config;
  uint32_t width = 0;
  std::vector<uint64_t> keys;
  std::vector<float> values;
};

struct Checkpoint {
  std::string dir;                      // the epoch-N directory read
  std::string model_name;
  int epoch = 0;
  int servers = 0;
  std::string format;                   // "" when the MANIFEST predates format lines
  std::optional<uint64_t> seed;         // the job's --seed; unset when the MANIFEST predates seed lines
  ModelOptionText options;              // as recorded
  std::vector<std::pair<std::string, double>> metrics;  // as recorded (last evaluation)
  uint64_t manifest_hash = 0;           // HashBytes of the MANIFEST text
  std::unique_ptr<Model> model;         // rebuilt from model_name + options
  std::vector<CheckpointTable> tables;  // in the model's table order
};

// Reads `path`: an epoch-N directory holding a MANIFEST, or a --checkpoint_dir, whose newest
// complete checkpoint (highest N with a MANIFEST) is then used. Errors name the file and the
// reason (a missing shard, a shard checksum that differs from the MANIFEST, a key held by two
// shards, a table layout that does not match the recorded model).
Status ReadCheckpoint(const std::string& path, Checkpoint* out);

}  // namespace embark
