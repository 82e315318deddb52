// Model registry: every model the binary can train, with its defaults and how to build it.
//
// One entry a model (models/model_factory.cc, kModels): its name, the task it solves, the input
// formats it reads and the one it reads by default, and the training defaults its options were
// tuned with (epochs, batch size, how often local copies sync). The commands (app/main.cc),
// export and serve look a model up here and ask the built model to Describe() itself, so none
// of them tests a model's name. Adding a model: its own files, its Create function and one
// line in kModels (README, "How to add a model").
//
// Thread-safety: the registry is a constant table; the functions are pure.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/model.h"
#include "models/model_description.h"

namespace embark {

struct ModelOptions;

struct ModelInfo {
  const char* name;
  ModelTask task;
  // Input formats the model reads (data/line_parser.h names); the first is the default.
  // "csv" here means `--format=csv --schema=FILE` is accepted.
  std::vector<std::string> formats;
  int suggested_epochs;           // passes over the data the defaults were tuned for
  uint32_t batch_size;            // default --batch_size
  int sync_every;                 // default --sync_every (local sync: batches between exchanges)
  bool local_sync;                // trains with --sync=local unless told (every worker count)
  bool all_cores_local;           // train-local runs Hogwild on every core unless told
  bool field_aware;               // needs num_fields (from the data when --num_fields is unset)
  bool rating_range;              // takes min_rating/max_rating (clips its predictions)
  Status (*create)(const ModelOptions& options, std::unique_ptr<Model>* out);

  const std::string& default_format() const { return formats.front(); }
  bool Reads(const std::string& format) const;
};

// Every registered model, in a stable order.
const std::vector<ModelInfo>& RegisteredModels();

// The entry of model `name`, or nullptr.
const ModelInfo* FindModel(const std::string& name);

// "mf, lr, ..." for error messages.
std::string KnownModelList();

}  // namespace embark
