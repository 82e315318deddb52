// RankingEvaluator: one worker's held-out ranking evaluation of an implicit-feedback model
// (Model::IsRanking): for each of its test users, every catalogue item the user did not
// interact with in training is scored, and the top K against the user's held-out items gives
// Recall@K, NDCG@K and HitRate@K (models/ranking_metrics.h), beside the popularity baseline.
//
// Who evaluates whom: test users are split over workers by a hash of the user key
// (WorkerOfUser), so each user is evaluated by exactly one worker whatever the byte ranges of
// the files; every worker reads the whole test file(s) once and keeps its users' lines.
//
// What Load() reads, once, before training (input contract in models/interaction_fields.h):
//   * the test files: a user's held-out items are the items of its test lines; its query
//     features (what the user tower sees) are the user-side features of its FIRST test line;
//   * the catalogue: the --items file (libffm with a label, one item per line, item-side
//     fields; the first line of an item wins), or else every item of the training files with
//     the item-side features of its first occurrence (the files are read in order by every
//     worker, so all workers build the same catalogue);
//   * the training files, whole: (user, item) pairs of this worker's test users (excluded from
//     their rankings) and every catalogue item's interaction count (the popularity baseline).
// Held-out items that are not in the catalogue, or that the user already had in training, are
// dropped (they cannot be recommended); a user left without held-out items is not evaluated.
// Memory per worker: the catalogue (each item's item-side features, 16 B a feature, plus about
// 50 B of index and counts), the query features of its test users, 4 B per training interaction
// of its test users and per held-out item, and at evaluation the item vectors (VectorDim()
// floats per item) plus a block of at most 64 MiB of scores. The training pairs of users other
// than its own are not kept.
//
// Evaluate() pulls the catalogue's rows chunk by chunk (one pull per `chunk` items), computes
// every item vector once, then the query users' vectors, scores users against all items in
// blocks with one matrix product, and keeps the exact top K per user.
//
// Thread-safety: Load and Evaluate are called from one thread (the worker's main thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "models/interaction_fields.h"
#include "models/model.h"
#include "models/ranking_metrics.h"
#include "data/batch.h"
#include "data/data_reader.h"
#include "worker/evaluation.h"

namespace embark {

class RankingEvaluator {
 public:
  struct Options {
    DataFormat format = DataFormat::kLibffm;  // of the train and test files
    std::string train;                        // files, globs, directories (comma-separated)
    std::string test;
    std::string items;                        // optional catalogue file (libffm)
    int top_k = 10;
    int worker_index = 0;
    int num_workers = 1;
    BadLinePolicy bad_lines = BadLinePolicy::kFail;
    size_t chunk = 4096;                      // users or items per pull
  };

  // Fills *rows with the rows of `batch` (the worker's pull); the pointer stays valid until
  // the next call.
  using PullFn = std::function<Status(const Batch& batch, const PulledRows** rows)>;

  explicit RankingEvaluator(const Options& options) : options_(options) {}
  RankingEvaluator(const RankingEvaluator&) = delete;
  RankingEvaluator& operator=(const RankingEvaluator&) = delete;

  // The worker that evaluates the user with key `user_key`.
  static int WorkerOfUser(uint64_t user_key, int num_workers);

  Status Load();
  // Adds this worker's sums (model and popularity baseline) to *eval (kind kRanking).
  Status Evaluate(const Model& model, const PullFn& pull, Evaluation* eval) const;

  size_t num_items() const { return item_count_.size(); }
  size_t num_users() const { return num_users_; }                 // this worker's test users
  size_t num_evaluated_users() const { return static_cast<size_t>(popularity_.users); }
  const RankingSums& popularity() const { return popularity_; }

 private:
  // Appends the features of example e of `from` accepted by `keep` as one example of the last
  // chunk of *chunks (a new chunk when it is full).
  // Copies the features of example e on `side` (models/interaction_fields.h), in line order.
  void AppendExample(const Batch& from, size_t e, InteractionSide side, std::vector<Batch>* chunks) const;
  // The index of item `key`, adding it with the features of example e when `add` is true; -1
  // if unknown.
  int64_t ItemIndex(uint64_t key, const Batch& from, size_t e, bool add);
  Status ReadFiles(const std::string& files, DataFormat format,
                   const std::function<Status(const Batch&)>& on_batch) const;

  const Options options_;
  std::vector<Batch> item_chunks_;                 // the catalogue, item-side features
  std::unordered_map<uint64_t, uint32_t> item_index_;
  std::vector<uint64_t> item_count_;               // training interactions per item
  std::vector<Batch> user_chunks_;                 // this worker's test users, query features
  size_t num_users_ = 0;
  // Per user (CSR): sorted distinct catalogue indices.
  std::vector<uint32_t> excluded_begin_, excluded_;
  std::vector<uint32_t> held_out_begin_, held_out_;
  RankingSums popularity_;                         // computed once by Load()
};

}  // namespace embark
