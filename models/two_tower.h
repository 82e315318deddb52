// TwoTowerModel ("two_tower"): a retrieval model for implicit feedback. A user tower maps the
// user-side features (field 0 and fields 2..31, models/interaction_fields.h) and an item tower
// the item-side features (field 1 and fields 32..63) to d-dimensional vectors; their score is
// the dot product or the cosine divided by a temperature. Shared fields 64..95 feed the tower
// of their position (before the item id: user) and live in "item_emb" for both towers, so a
// history word and an item's description word are one row.
//
//   tower input  h_0 = mean over the tower's features f of x_f * e_f    (K floats; e_f an
//                      embedding row, x_f the feature value; zeros when the tower has none);
//                      towers "identity" and "residual": sum / sqrt(count) instead of the mean
//   hidden       h_l = relu(W_l h_{l-1} + b_l), l = 1..L
//   output       z   = W_out h_L + b_out                              (d = out_dim floats)
//                tower "identity": z = h_0 (no weight tables); "residual": z = h_0 + W_out h_L
//                + b_out (both need d = K)
//   vector       z (score "dot"), or z / |z| (score "cosine")
//   score(u, i)  = (<vec_u, vec_i> + b_i) / temperature, b_i = 0 unless item_bias: then the
//                  item table's rows have K + 1 floats and b_i is the last one of the item id's
//                  row (the other rows' last float is unused; the per-use L2 covers it)
//
// Loss: in-batch softmax cross-entropy. Each example is one positive (user, item) pair; the
// items of the other examples of the batch are its negatives:
//   loss_e = -log( exp(s_ee) / sum_j exp(s_ej) ),  s_ej = score(u_e, i_j) [- log q_j]
// where columns j != e holding the same item id as e are left out (they are not negatives), and
// with logq_correction every logit is reduced by log q_j, q_j = (examples of the batch with
// item j's id) / batch size: the in-batch estimate of how often item j is drawn as a negative,
// which keeps popular items from being pushed down merely for being popular (Yi et al.,
// RecSys 2019). A call on [begin, end) computes the user tower for those examples and the
// item tower for the whole batch (every item is a negative of every example), and adds the
// gradients of its own examples' losses; the item tower is therefore recomputed by each
// compute thread, which costs little next to the softmax (B x B scores).
//
// Regularisation: the embedding rows get 0.5 * reg * |e_f|^2 per use by an example of
// [begin, end) (in the model's gradient, as in models/deepfm.h); the weight layers use the
// optimizer's per-push l2 (mlp_l2) and a smaller step, optimizer.lr * mlp_lr_scale, because
// every push updates them with a gradient summed over the whole batch.
//
// Tables, in this order (L = hidden.size(); tower t = 0 user, 1 item):
//   0                      "user_emb"   sparse, dim K: embeddings of user-side features
//   1                      "item_emb"   sparse, dim K: embeddings of item-side features
//   2 + t*(L+2) + l        "<t>_mlp<l>" dense, l = 0..L: W_l, out_l x in_l floats, ROW-major,
//                          in_0 = K, out_L = d; He init (stddev sqrt(2 / in_l)), the output
//                          layer sqrt(1 / in_L)
//   2 + t*(L+2) + L + 1    "<t>_bias"   dense: b_1..b_L and b_out one after another, zero init
// where <t> is "user" or "item"; tower "identity" has tables 0 and 1 only.
//
// Ranking vectors (Model::UserVectors / ItemVectors): the towers' vectors, with item_bias
// (vec_u, 1) and (vec_i, b_i), so their dot product ranks exactly as the score. Predict writes sigmoid(score(u_e, i_e)).
//
// Thread-safety: immutable after construction; ForwardBackward and Predict are const and safe to
// call concurrently on disjoint example ranges writing to distinct Gradients. Each call
// allocates its activation matrices (per call, not per example).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"
#include "ps/table_config.h"

namespace embark {

enum class TwoTowerScore { kDot, kCosine };
// What a tower does with its pooled embedding h_0 (see the top of this file).
enum class TwoTowerTower { kMlp, kIdentity, kResidual };
// "dot" / "cosine" -> TwoTowerScore.
Status ParseTwoTowerScore(const std::string& name, TwoTowerScore* out);
// "mlp" / "identity" / "residual" -> TwoTowerTower, and back.
Status ParseTwoTowerTower(const std::string& name, TwoTowerTower* out);
const char* TwoTowerTowerName(TwoTowerTower tower);

// Defaults tuned with train-local on generated implicit data (`embark gen --kind=implicit
// --rows=30000 --users=1500 --items=600 --seed=5`, with its item catalogue), Recall@10 against
// the popularity baseline's 0.206: without the logQ correction in-batch negatives push popular
// items down and Recall@10 stays below 0.09 (cosine, temperature 0.1 or 0.05); with it, dot
// scores reach 0.25-0.26 (cosine/0.1: 0.22); lr 0.05 peaks after one epoch and then overfits
// (0.25 -> 0.20 by epoch 8), lr 0.02 with reg 0.01 holds 0.25-0.26 from epoch 2 to 8.
struct TwoTowerOptions {
  uint32_t dim = 32;                        // K, embedding width
  std::vector<uint32_t> hidden = {64};      // hidden layer widths of each tower
  uint32_t out_dim = 32;                    // d, width of the user and item vectors
  TwoTowerScore score = TwoTowerScore::kDot;
  float temperature = 1.0f;                 // scores are divided by this
  bool logq_correction = true;
  TwoTowerTower tower = TwoTowerTower::kMlp;
  bool item_bias = false;                   // b_i: an extra column of the item id's row
  float init_stddev = 0.1f;                 // normal init of the embedding rows
  float reg = 0.01f;                        // L2 per use of an embedding row
  float mlp_lr_scale = 0.1f;                // weight layers step at optimizer.lr * this
  float mlp_l2 = 0.0f;                      // l2 of the weight layers, per push
  int suggested_epochs = 5;
  OptimizerConfig optimizer = DefaultOptimizer();

  static OptimizerConfig DefaultOptimizer() {
    OptimizerConfig o;
    o.kind = OptimizerKind::kAdaGrad;
    o.lr = 0.02f;
    return o;
  }
};

class TwoTowerModel : public Model {
 public:
  static constexpr int kUserTower = 0;
  static constexpr int kItemTower = 1;
  static constexpr int kUserEmbeddingTable = 0;
  static constexpr int kItemEmbeddingTable = 1;
  static constexpr uint32_t kMaxWidth = 4096;

  explicit TwoTowerModel(const TwoTowerOptions& options);
  static Status Validate(const TwoTowerOptions& options);
  const TwoTowerOptions& options() const { return options_; }

  // Table of weight layer l (0..L, L = the output layer) and of the biases of `tower`.
  int LayerTable(int tower, size_t l) const;
  int BiasTable(int tower) const;

  std::string name() const override { return "two_tower"; }
  ModelDescription Describe() const override;
  std::vector<TableConfig> Tables() const override;
  int TableOfField(uint16_t field) const override;
  LossSum ForwardBackward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          Gradients* grads) const override;
  void Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
               float* preds) const override;

  bool IsRanking() const override { return true; }
  int VectorDim() const override { return static_cast<int>(options_.out_dim) + (options_.item_bias ? 1 : 0); }
  void UserVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                   float* out) const override;
  void ItemVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                   float* out) const override;

 private:
  struct TowerWork;  // activations of one tower over an example range, defined in the .cc
  struct TowerDelta;  // d loss / d (one layer's activations), defined in the .cc

  void TowerForward(int tower, const Batch& batch, size_t begin, size_t end,
                    const PulledRows& rows, TowerWork* work) const;
  // d_vectors: d loss / d (tower vectors), out_dim x n (column per example of the range).
  void TowerBackward(int tower, const Batch& batch, const PulledRows& rows, const TowerWork& work,
                     const float* d_vectors, Gradients* grads) const;
  // The weight layers: h_0 -> z (plus h_0 for residual towers), and back: *delta d loss / d z
  // in, d loss / d h_0 through the layers out.
  void MlpForward(int tower, const PulledRows& rows, TowerWork* work) const;
  void MlpBackward(int tower, const PulledRows& rows, const TowerWork& work, Gradients* grads,
                   TowerDelta* delta) const;
  void EmbeddingBackward(int tower, const Batch& batch, const PulledRows& rows, const TowerWork& work,
                         const TowerDelta& delta, Gradients* grads) const;
  bool HasWeights() const { return options_.tower != TwoTowerTower::kIdentity; }
  // Floats per row of an embedding table: K, plus the item bias column in the item table.
  int RowWidth(int table) const;
  // b_i of example e's item id (0 without item_bias or item id).
  float ItemBias(const Batch& batch, size_t e, const PulledRows& rows) const;

  TwoTowerOptions options_;
  std::vector<uint32_t> layer_in_;     // fan-in of weight layer l (size L+1)
  std::vector<uint32_t> layer_out_;    // fan-out of weight layer l
  std::vector<uint32_t> bias_offset_;  // start of layer l's bias in the tower's bias table
  uint32_t bias_size_ = 0;
};

}  // namespace embark
