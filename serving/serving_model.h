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
// Top-K ranks the items of a catalogue for a user by the inner product of a user vector and
// the item vectors:
//   * MF: the user query [p_u, 1] against [q_i, b_i] for every row of the item table, so the
//     score is <p_u, q_i> + b_i (the user's own bias and the global mean do not change the
//     ranking and are left out; predictions are not clipped);
//   * ranking models (Model::IsRanking: imf, two_tower): the model's own UserVectors and
//     ItemVectors hooks, fed the rows the trainer's servers held exactly as Score is -- the
//     maths is never re-implemented here. The catalogue is the bundle's item catalogue (items
//     with their item-side features, serving/topk_data.h) or, when the bundle has none and
//     the item id is the only feature of its table (imf), every row of that table. Item
//     vectors are computed once, at load. A two_tower bundle without a catalogue has no top-K
//     (its item-embedding table mixes item ids with item features, so the items are unknown).
// Items come from an exact scan or an HNSW index (serving/topk_index.h) chosen at load; with
// HNSW the recall@10 against the exact scan is measured on a sample of users at load and
// reported in info(). Items a user has seen (the bundle's seen items) are looked up per user
// as catalogue rows, prepared at load.
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
#include "serving/topk_data.h"
#include "serving/topk_index.h"
#include "data/batch.h"
#include "data/line_parser.h"

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
  // Optional raw id per row of the table holding item ids (MfModel's "item", imf's "item",
  // two_tower's "item_emb": the table of field 1).
  std::vector<std::string> item_ids;
  SeenItemsView seen;                     // optional: items each user has seen
  ItemCatalogueView catalogue;            // optional: items to rank, with their features
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
  uint32_t row;       // catalogue row
  uint64_t key;       // the item's feature key
  float score;        // inner product of the user and item vectors (MF: <p_u, q_i> + b_i)
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

  // True when top-K is available (see above); otherwise topk_unavailable() says why.
  bool has_topk() const { return exact_ != nullptr; }
  const std::string& topk_unavailable() const { return topk_unavailable_; }
  size_t num_items() const { return num_items_; }
  // True when the bundle has seen items (export --seen_from).
  bool has_seen() const { return !seen_begin_.empty(); }

  // The query vector of a user (topk_dim() floats). `user_key`: FeatureKey(0, id), or null when
  // the request names no user. `side_features`: (field, key) pairs of further user-side
  // features, value 1 (models whose user side reads them: two_tower). MF and imf need a known
  // user: NotFound otherwise; two_tower accepts an unknown user id (its row is initialised as
  // the trainer's server would) when side features describe the user, as the trainer's
  // evaluation does for a test user. InvalidArgument for a side feature the model's user side
  // does not read.
  Status UserQuery(const uint64_t* user_key, const std::vector<std::pair<uint16_t, uint64_t>>& side_features,
                   std::vector<float>* query) const;
  // Catalogue row of `item_key`, or KeyIndex::kNotFound.
  uint32_t FindItem(uint64_t item_key) const;
  // Appends the catalogue rows of the items `user_key` has seen (unsorted, unique).
  void AppendSeen(uint64_t user_key, std::vector<uint32_t>* rows) const;
  // The k best items for `query`, best first, skipping catalogue rows listed in `excluded`
  // (sorted, unique). Fewer than k when the catalogue runs out. `exact` forces the exact scan
  // even when an approximate index is loaded.
  void TopK(const float* query, size_t k, const std::vector<uint32_t>& excluded, bool exact,
            std::vector<ScoredItem>* out) const;
  // The raw id of catalogue row `row`, or "" when the bundle has no id map.
  const std::string& ItemId(uint32_t row) const;
  // Floats of a query / item vector.
  int topk_dim() const { return topk_dim_; }
  // The vector of catalogue row `row` (for tests and tools).
  const float* ItemVector(uint32_t row) const { return item_vectors_.data() + static_cast<size_t>(row) * topk_dim_; }

 private:
  struct Scratch;
  ServingModel() = default;
  Status BuildTopK(const ServingOptions& options, const ItemCatalogueView& catalogue);
  // Ranking models: item vectors of the catalogue through Model::ItemVectors.
  Status BuildRankingItems(const ItemCatalogueView& catalogue);
  // Seen items as sorted catalogue rows per seen user.
  void BuildSeen(const SeenItemsView& seen);
  // Queries of users spread over the known users, for the recall measurement.
  void SampleQueries(size_t n, std::vector<float>* queries) const;
  std::unique_ptr<Scratch> TakeScratch() const;
  void ReturnScratch(std::unique_ptr<Scratch> s) const;
  // Fills pulled->rows / row_of_feature for `batch` as the trainer's pull would (unknown keys
  // get their initial rows); returns how many keys the bundle lacked.
  size_t Pull(const Batch& batch, PulledRows* pulled) const;
  // MF's query [p_u, 1] of user-table row `user_row`.
  void MfUserQuery(uint32_t user_row, std::vector<float>* query) const;

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

  // Top-K: item vectors (row-major, width topk_dim_; MF [q_i, b_i]), the catalogue's keys and
  // ids, and the tables of the user id (field 0) and item id (field 1).
  bool mf_ = false;
  int user_table_ = -1, item_table_ = -1;
  int topk_dim_ = 0;
  float bias_scale_ = 1;
  size_t num_items_ = 0;
  std::string topk_unavailable_;
  std::vector<float> item_vectors_;
  std::vector<uint64_t> item_keys_;  // per catalogue row
  KeyIndex item_index_;              // item key -> catalogue row
  // Seen items: seen_index_ maps a user key to u, whose catalogue rows are
  // seen_rows_[seen_begin_[u] .. seen_begin_[u+1]).
  KeyIndex seen_index_;
  std::vector<uint32_t> seen_begin_;
  std::vector<uint32_t> seen_rows_;
  std::vector<uint64_t> seen_users_;  // their keys (recall queries)
  std::unique_ptr<TopKIndex> exact_;   // always built for top-K models (and recall checks)
  std::unique_ptr<TopKIndex> approx_;  // hnsw, when chosen

  mutable std::mutex scratch_mu_;
  mutable std::vector<std::unique_ptr<Scratch>> free_scratch_;
};

}  // namespace embark
