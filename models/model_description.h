// ModelDescription: what a model says about itself to the code that stores, exports, serves
// and evaluates it (Model::Describe), so that code never has to know which model it holds.
//
// A description is plain data: the task the model solves (how it is evaluated), the meaning of
// each table's columns and of its prediction (written into a bundle's manifest), which fields
// feed which table, which columns of which table are the model's embedding of a user or a
// feature (`export --user_profiles`), storage transforms the exporter applies so a bundle holds
// the real parameters (MF stores its biases scaled, see models/mf.h), the numbers a manifest
// lists (dim, num_fields, hidden ...), and the structure the CTR reference implementation
// (bench/ctr_baseline.h) can re-implement.
//
// Thread-safety: plain values; ModelTaskName and FindAttribute are pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace embark {

// How the model's predictions are judged: RMSE/MAE of ratings, logloss/AUC of clicks, or
// Recall/NDCG of item rankings (worker/evaluation.h).
enum class ModelTask { kRegression, kClassification, kRanking };

// "regression", "classification", "ranking" (the manifest's model.task).
const char* ModelTaskName(ModelTask task);
Status ParseModelTask(const std::string& name, ModelTask* out);

// The meaning of one table's columns, in words for the manifest.
struct TableDescription {
  std::string name;
  std::string columns;
};

// Which fields' features live in which table. `fields` is a field number ("0"), a range
// ("0..9") or "all"; `meaning` is empty where the field has no fixed meaning.
struct FieldBinding {
  std::string fields;
  std::string meaning;
  std::string table;
};

// Columns [begin, end) of `table`'s rows: the model's embedding of the row's key.
struct EmbeddingColumns {
  std::string table;
  uint32_t begin = 0;
  uint32_t end = 0;
};

// A transform between the trained (checkpoint) and the exported (bundle) value of one column:
// exported = trained * scale + offset, for every row of `table` (a dense table has one row).
// Why: a model may store a parameter in a form that trains better (MF keeps b / bias_scale,
// and the global mean as an offset to the configured mean); a bundle holds the real value.
struct StorageTransform {
  std::string table;
  uint32_t column = 0;
  float scale = 1;
  float offset = 0;
};

// A number (or list of numbers) the manifest's "model" object lists, e.g. ("dim", {8}) or
// ("hidden", {64, 32}, list = true).
struct ModelAttribute {
  std::string name;
  std::vector<double> values;
  bool list = false;
};

// Top-K by one dot product of table rows: items ranked for user u by
// dot(user_row[0..dim), item_row[0..dim)) + bias_scale * item_row[bias_column] (MF). Ranking
// models (Model::IsRanking) describe their vectors through UserVectors/ItemVectors instead.
struct RowDotTopK {
  uint32_t dim = 0;
  uint32_t bias_column = 0;
  float bias_scale = 1;
};

// The second-order structure of a pure factorisation machine, which bench/ctr_baseline.h
// re-implements independently: kNone for every other model.
enum class FactorizationKind { kNone, kFm, kFieldAwareFm };

struct ModelDescription {
  ModelTask task = ModelTask::kClassification;
  std::string prediction;                 // the prediction formula, in words
  std::vector<TableDescription> tables;   // one per table of Model::Tables(), same order
  std::vector<FieldBinding> fields;
  std::optional<EmbeddingColumns> embedding;  // unset: the model has no embedding vectors
  std::vector<StorageTransform> transforms;
  std::vector<ModelAttribute> attributes;
  std::optional<RowDotTopK> row_topk;
  FactorizationKind factorization = FactorizationKind::kNone;
  // The model's hyper-parameters a re-implementation needs (factorization != kNone): K, the
  // fields, the init stddev and the model's per-use L2.
  uint32_t dim = 0;
  uint32_t num_fields = 0;
  float init_stddev = 0;
  float reg = 0;
  bool instance_norm = false;
};

// The attribute named `name`, or nullptr.
const ModelAttribute* FindAttribute(const ModelDescription& d, const std::string& name);

}  // namespace embark
