// ImplicitMfModel ("imf"): matrix factorisation for implicit feedback (clicks, purchases) with
// the BPR objective (Rendle et al., UAI 2009) and in-batch negatives.
//
//   score(u, i) = <p_u, q_i> + b_i
//   loss of a positive (u, i) = mean over its negatives j of -log sigmoid(score(u,i) - score(u,j))
//                               + per-use L2 (below)
//
// Every example is one positive interaction: the user is its field-0 feature and the item its
// field-1 feature (models/interaction_fields.h); labels, values and other fields are ignored,
// so the ratings format works as well (every rating counts as an interaction). An example
// missing its user or item contributes nothing.
//
// Negatives: for a positive at position e of the batch, negative s is the item of the
// example at position Hash(e, s, attempt) mod batch size, retried (up to kNegativeAttempts)
// while that example has the same item, the same user (its item is then another positive of
// this user) or no item. Why in-batch: the negatives' rows are already pulled with the batch,
// so there is no extra data path, no catalogue on the worker and no extra pull; sampling
// examples (not distinct items) draws items in proportion to their popularity, which pushes
// the model away from merely learning popularity (the item bias still learns it). Why a hash
// of the position rather than an RNG: the loss is a pure function of (batch, rows), which
// makes runs reproducible and lets the gradient check use finite differences. Negatives are
// drawn from the WHOLE batch even when a call covers only [begin, end) of it.
//
// Regularisation: 0.5 * reg * |p_u|^2 and 0.5 * reg * |q_i|^2 per positive, 0.5 * reg * |q_j|^2
// per negative use, 0.5 * bias_reg * b^2 per use of an item bias, all in the model's gradient
// (as in models/mf.h: independent of batch size and worker count); the optimizer's l2 is 0.
//
// Tables, in this order:
//   0 "user"  sparse, dim K:   p_u
//   1 "item"  sparse, dim K+1: columns 0..K-1 = q_i, column K = b_i
//
// Ranking vectors (Model::UserVectors / ItemVectors, dim K+1): user = [p_u, 1], item =
// [q_i, b_i], so their dot product is the score. Predict writes sigmoid(score).
//
// Thread-safety: immutable after construction; ForwardBackward and Predict are const and safe to
// call concurrently on disjoint example ranges writing to distinct Gradients.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"
#include "ps/table_config.h"

namespace embark {

// Defaults tuned with train-local and 2-worker runs on generated implicit data
// (`embark gen --kind=implicit`) and on the Online Retail sample (README, "Ranking"); see there
// for the Recall@10 figures.
struct ImplicitMfOptions {
  uint32_t dim = 64;              // K
  uint32_t negatives = 8;         // in-batch negatives per positive
  float init_stddev = 0.1f;       // normal init of every column
  float reg = 0.01f;              // L2 per use of p_u, q_i (see header)
  float bias_reg = 0.01f;         // L2 per use of b_i
  int suggested_epochs = 20;
  OptimizerConfig optimizer = DefaultOptimizer();

  static OptimizerConfig DefaultOptimizer() {
    OptimizerConfig o;
    o.kind = OptimizerKind::kAdaGrad;
    o.lr = 0.05f;
    return o;
  }
};

class ImplicitMfModel : public Model {
 public:
  static constexpr int kUserTable = 0;
  static constexpr int kItemTable = 1;
  static constexpr int kNegativeAttempts = 4;  // tries per negative before giving up on it
  static constexpr uint32_t kMaxNegatives = 1024;

  explicit ImplicitMfModel(const ImplicitMfOptions& options) : options_(options) {}
  static Status Validate(const ImplicitMfOptions& options);
  const ImplicitMfOptions& options() const { return options_; }

  // The batch position of negative s of the positive at `position` (attempt a), before the
  // same-item/same-user checks; exposed for tests.
  static size_t NegativePosition(size_t position, uint32_t s, int attempt, size_t batch_size);

  std::string name() const override { return "imf"; }
  std::vector<TableConfig> Tables() const override;
  int TableOfField(uint16_t field) const override;
  LossSum ForwardBackward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          Gradients* grads) const override;
  void Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
               float* preds) const override;

  bool IsRanking() const override { return true; }
  int VectorDim() const override { return static_cast<int>(options_.dim) + 1; }
  void UserVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                   float* out) const override;
  void ItemVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                   float* out) const override;

 private:
  // The user and item rows of example e (-1 when absent; the first feature of each field wins).
  void RowsOfExample(const Batch& batch, size_t e, const PulledRows& rows, int32_t* user,
                     int32_t* item) const;

  ImplicitMfOptions options_;
};

}  // namespace embark
