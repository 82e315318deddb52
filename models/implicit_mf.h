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
// With side_features (LightFM style), p_u is built from every user-side feature (fields 0,
// 2..31, and shared fields 64..95 before the item id) and [q_i, b_i] from every item-side
// feature (1, 32..63, shared fields after the item id): each is the SUM of its rows divided by
// sqrt(count). Why sqrt rather than the mean: a purchase history has 10-200 words, and the mean
// shrank the history-item match below the item bias (Online Retail validation Recall@10 0.031
// with the mean, 0.039 with sqrt, K=32). Shared-field rows live in the item table, so a word
// is ONE row for the user's history and for the item's description: their dot product starts
// out as a count of common words, which the data (a few purchases per user) could not teach
// two separate tables. A user-side row of the item table uses its K factors, not its bias.
// Values are ignored here too. With ids only (the default) count is 1 and nothing changes.
//
// Negatives: for the positive at position e of the batch, negative s is the item whose item-id
// row is number NegativeRow(e, s, attempt) of the batch's distinct item-id rows (in row order;
// its features are those of the first example with that item) -- an item drawn uniformly from
// the DISTINCT items of the batch -- retried (up to kNegativeAttempts) while it is the positive
// item. Why in-batch: the negatives' rows are already pulled with the batch, so there is no
// extra data path, no catalogue on the worker and no extra pull. Why distinct items rather
// than the items of other examples: drawing examples draws items in proportion to their
// popularity, which pushes popular items down for everyone; on generated data (README,
// "Ranking") that gave Recall@10 0.16, below the popularity baseline's 0.21, against 0.27 with
// distinct items (the item bias then learns popularity). Why a hash of the position rather
// than an RNG: the loss is a pure function of (batch, rows), so runs are reproducible and the
// gradient check can use finite differences. Negatives come from the WHOLE batch even when a
// call covers only [begin, end) of it. A negative may be another positive of the same user
// (rarely, with many distinct items per batch); it is not checked, as BPR implementations
// that sample uniformly do not either.
//
// Regularisation: 0.5 * reg * |p_u|^2 and 0.5 * reg * |q_i|^2 per positive, 0.5 * reg * |q_j|^2
// per negative use, 0.5 * bias_reg * b^2 per use of an item bias (with side features: of each
// row used, per use), all in the model's gradient
// (as in models/mf.h: independent of batch size and worker count); the optimizer's l2 is 0.
//
// Tables, in this order:
//   0 "user"  sparse, dim K:   p_u (side features: rows of user-side fields)
//   1 "item"  sparse, dim K+1: columns 0..K-1 = q_i, column K = b_i (side features: rows of
//                               item-side and shared fields)
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

// Defaults tuned with train-local on generated implicit data (`embark gen --kind=implicit
// --rows=30000 --users=1500 --items=600 --seed=5`): Recall@10 0.27 from epoch 5 to 15 against
// the popularity baseline's 0.21; reg 0.001-0.01 overfits after 3-5 epochs (0.26 -> 0.20),
// reg 0.05 learns slowly (0.24 after 15); 16 negatives gain ~0.005 over 8; lr 0.1 is worse
// (0.25); K = 32 ~ K = 64. On the sparse Online Retail sample (4 interactions per customer) ids
// alone only match popularity; with side_features and purchase-history words (shared field 64)
// K=64, reg 0.001, lr 0.02, 32 negatives, batch 1024, 8 epochs win (tuned on a validation split
// carved from the training pairs): README, "Ranking".
struct ImplicitMfOptions {
  uint32_t dim = 64;              // K
  uint32_t negatives = 16;        // in-batch negatives per positive
  float init_stddev = 0.1f;       // normal init of every column
  float reg = 0.02f;              // L2 per use of p_u, q_i (see header)
  float bias_reg = 0.01f;         // L2 per use of b_i
  // Also use the side features (user: fields 2..31, item: 32..63), LightFM style: see header.
  bool side_features = false;
  int suggested_epochs = 10;
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

  // The item row (of item_rows pulled for the batch) of negative s of the positive at batch
  // `position`, attempt `attempt`, before the same-item check; exposed for tests.
  static size_t NegativeRow(size_t position, uint32_t s, int attempt, size_t item_rows);

  std::string name() const override { return "imf"; }
  ModelDescription Describe() const override;
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
  // Whether feature occurrence f belongs to the user (side = kUserTable) or item side.
  // Pooling of a side's rows: their sum / sqrt(count), see the header.
  static float Scale(int count);
  bool UsesFeature(int side, const Batch& batch, uint32_t f, uint32_t item_id_position) const;
  // Example e's user vector p (K floats) or item vector [q, b] (K+1): the mean of its rows on
  // that side. Returns how many rows (0: all zeros).
  int SideVector(int side, const Batch& batch, size_t e, const PulledRows& rows, float* out) const;
  // Adds grad / count plus the per-use L2 to each row of that side; returns the L2 penalty.
  double SideBackward(int side, const Batch& batch, size_t e, const PulledRows& rows,
                      const float* grad, int count, Gradients* grads) const;

  ImplicitMfOptions options_;
};

}  // namespace embark
