// ServingModel: one loaded, immutable model version that answers score and top-K queries.
//
// It is built from the same pieces the trainer uses, so serving computes exactly what the
// trainer's evaluation computed: the Model object rebuilt by CreateModel from the bundle's
// model spec, and per table the rows the trainer's servers held. A score request becomes a
// Batch and a PulledRows (the rows of its features, one per feature occurrence) and goes through
// Model::Predict -- serving never re-implements a model's maths.
//
// A feature whose key the bundle does not hold gets the row the trainer's server would have
// created for it on first pull: InitRowWeights(seed, table, key, the table's InitConfig). With
// the job's seed in the bundle this reproduces the trainer's prediction for a never-seen feature
// exactly (zero for zero-init tables such as LR's; a small deterministic random vector for
// factor tables). Such features are counted in ScoreStats::unknown_features.
//
// Top-K (models with a user and an item table, today MF): the score of item i for user u is
// <p_u, q_i> + b_i (the user's own bias and the global mean do not change the ranking and are
// left out; predictions are not clipped). Items come from an exact scan or an HNSW index
// (serving/topk_index.h) chosen at load; with HNSW the recall@10 against the exact scan is
// measured on a sample of users at load and reported in info().
//
// Thread-safety: immutable after Create; Score, TopK and the accessors are const and safe
// from any number of threads (per-call scratch comes from an internal, locked free list).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "models/model.h"
#include "serving/key_index.h"
#include "serving/topk_index.h"
#include "worker/batch.h"
#include "worker/line_parser.h"

namespace embark {

class Bundle;

// The rows of one table as loaded (usually pointers into a memory-mapped bundle), in the
// model's own layout: exactly the weights the trainer's servers held (e.g. MF's bias column
// still divided by bias_scale).
struct ServingTableRows {
  const uint64_t* keys = nullptr;  // sparse tables: num_rows keys (any order)
  const float* values = nullptr;   // sparse: num_rows * dim floats, row-major; dense: dense_size
  size_t num_rows = 0;             // sparse: rows; dense: ignored
};

// What /version reports about a loaded model.
struct ServingInfo {
  std::string bundle_path;
  std::string version;            // the bundle's id (equal ids mean equal contents)
  std::string model;              // model name ("mf", "lr", ...)
  std::string source_checkpoint;  // the checkpoint the bundle was exported from
  std::string loaded_at;          // UTC time the load finished, ISO 8601
  std::string index;              // "exact", "hnsw" or "" (no top-K)
  double recall_at_10 = -1;       // hnsw: measured against exact at load; -1 when not measured
  size_t recall_queries = 0;      // users the recall was measured on
};

// Everything a ServingModel is built from. `tables` follows model->Tables() order.
struct ServingModelParts {
  std::unique_ptr<Model> model;
  uint64_t seed = 1;                      // the training job's --seed (row initialisation)
  std::vector<ServingTableRows> tables;
  std::shared_ptr<const void> backing;    // keeps the memory behind `tables` alive
  std::shared_ptr<const Bundle> bundle;   // the bundle served, when loaded from one (deltas apply to it)
  std::optional<DataFormat> data_format;  // the training data's format, for "lines" requests
  std::vector<std::string> item_ids;      // optional raw id per item-table row (id map)
  ServingInfo info;
};

struct ServingOptions {
  TopKIndexKind index = TopKIndexKind::kExact;
  HnswParams hnsw;
  size_t recall_queries = 200;  // users sampled to measure an approximate index's recall@10
};

// Per-call counts returned with scores.
struct ScoreStats {
  size_t unknown_features = 0;  // features whose key the bundle does not hold
};

struct ScoredItem {
  uint32_t row;       // row in the item table
  uint64_t key;       // the item's feature key
  float score;        // <p_u, q_i> + b_i
};

class ServingModel {
 public:
  // Builds the lookup indexes and (for recommendation models) the top-K index. InvalidArgument
  // when the parts do not fit the model (table count, dense sizes, row counts).
  static Status Create(ServingModelParts parts, const ServingOptions& options,
                       std::shared_ptr<const ServingModel>* out);
  ~ServingModel();
  ServingModel(const ServingModel&) = delete;
  ServingModel& operator=(const ServingModel&) = delete;

  const Model& model() const { return *model_; }
  const ServingInfo& info() const { return info_; }
  const std::optional<DataFormat>& data_format() const { return data_format_; }
  // The bundle this version was loaded from, or nullptr (a model built in memory).
  const std::shared_ptr<const Bundle>& bundle() const { return bundle_; }

  // Writes Predict's output for every example of `batch` into scores[0 .. batch.size()).
  void Score(const Batch& batch, float* scores, ScoreStats* stats) const;

  // True when the model has a user and an item table (top-K is available).
  bool has_topk() const { return exact_ != nullptr; }
  size_t num_items() const { return num_items_; }
  // Row of `user_key` in the user table, or KeyIndex::kNotFound.
  uint32_t FindUser(uint64_t user_key) const;
  // Row of `item_key` in the item table, or KeyIndex::kNotFound.
  uint32_t FindItem(uint64_t item_key) const;
  // The k best items for user row `user_row`, best first, skipping item rows listed in
  // `excluded` (sorted, unique). Fewer than k when the catalogue runs out. `exact` forces the
  // exact scan even when an approximate index is loaded.
  void TopK(uint32_t user_row, size_t k, const std::vector<uint32_t>& excluded, bool exact,
            std::vector<ScoredItem>* out) const;
  // The raw id of item row `row`, or "" when the bundle has no id map.
  const std::string& ItemId(uint32_t row) const;

 private:
  struct Scratch;
  ServingModel() = default;
  Status BuildTopK(const ServingOptions& options);
  std::unique_ptr<Scratch> TakeScratch() const;
  void ReturnScratch(std::unique_ptr<Scratch> s) const;
  void UserQuery(uint32_t user_row, std::vector<float>* query) const;

  std::unique_ptr<Model> model_;
  std::vector<TableConfig> configs_;
  std::vector<ServingTableRows> tables_;
  std::vector<KeyIndex> indexes_;  // per table (empty for dense tables)
  std::shared_ptr<const void> backing_;
  std::shared_ptr<const Bundle> bundle_;
  uint64_t seed_ = 1;
  std::optional<DataFormat> data_format_;
  std::vector<std::string> item_ids_;
  ServingInfo info_;

  // Top-K: item vectors [q_i, b_i] (row-major, width topk_dim_) and the user table layout.
  int user_table_ = -1, item_table_ = -1;
  int topk_dim_ = 0;
  float bias_scale_ = 1;
  size_t num_items_ = 0;
  std::vector<float> item_vectors_;
  std::unique_ptr<TopKIndex> exact_;   // always built for top-K models (and recall checks)
  std::unique_ptr<TopKIndex> approx_;  // hnsw, when chosen

  mutable std::mutex scratch_mu_;
  mutable std::vector<std::unique_ptr<Scratch>> free_scratch_;
};

}  // namespace embark
