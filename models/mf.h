// MfModel: biased matrix factorisation for explicit ratings.
//
//   prediction(u, i) = mu + b_u + b_i + <p_u, q_i>
//
// Each example of a batch holds exactly one feature of field 0 (the user) and one of field 1
// (the item); its label is the rating. Tables, in this order (the table index used by
// PulledRows and Gradients):
//   0 "user"   sparse, dim K+1: columns 0..K-1 = p_u, column K = b_u / bias_scale
//   1 "item"   sparse, dim K+1: columns 0..K-1 = q_i, column K = b_i / bias_scale
//   2 "global" dense, 1 float: a learned offset added to the configured global mean, so
//              mu = options.global_mean + global[0]. The table starts at zero (InitConfig has
//              no "constant" kind), which is why the configured mean lives in the model.
//
// Objective (what ForwardBackward reports as loss and differentiates), summed over ratings:
//   0.5 * (pred - r)^2 + 0.5 * reg * (|p_u|^2 + |q_i|^2) + 0.5 * bias_reg * (b_u^2 + b_i^2)
// so the reported loss is half the squared error PLUS the regularisation of the rows each
// rating touches; for RMSE use Predict and the metrics in models/metrics.h. ForwardBackward does
// not clip; Predict clips to [min_rating, max_rating].
//
// Why the regularisation is in the model gradient and not the optimizer's l2: the classic
// SGD-MF objective regularises a row once per rating that touches it (frequent users and items
// get proportionally more shrinkage). The optimizer's l2 is applied once per push, so its
// strength would depend on the batch size and on how many workers push the row. Putting it
// here keeps the objective independent of batching (the tuned defaults below give the same
// RMSE at batch 16 and 256); the tables' optimizer l2 is 0.
//
// Why the bias column is stored divided by bias_scale: a table has one optimizer, so factors and
// biases share one step size, yet biases want larger steps than factors (they are few, shared by
// every rating of the row, and not tied to another vector). Storing c = b / s and using b = s*c
// makes the gradient on c s times larger; AdaGrad, Adam and FTRL are invariant to gradient
// scale, so c moves by about the same amount as a factor and b moves s times further (with plain
// SGD the bias step is s^2 times the factor step). Anything that reads the bias column directly
// (an exporter) must multiply it by bias_scale.
//
// Features with other fields, and rows the worker marks -1, are ignored (an example missing
// its user or item is predicted from the parts it has). Feature values are ignored: a rating
// is one (user, item) pair.
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

// The defaults were tuned on MovieLens-100K u1.base / u1.test for time to quality, with AdaGrad
// and gradients summed over minibatches of 64. Test RMSE, predictions clipped to [1, 5]:
// K = 64, lr 0.02: 0.940 after 3 epochs, 0.917 after 9 and 0.9138 from 15 to 20 (a plateau);
// the earlier K = 128, lr 0.01 reached 0.9122 only after 35 epochs (4.4x the arithmetic of 16
// epochs at K = 64 for 0.0016). What mattered, in order: the per-rating factor reg (0.08; 0.05
// overfits to 0.95; 0.1 with a larger step ends 0.002 worse), the larger bias step (bias_scale
// 3-4 gains ~0.003), the step (0.03 reaches 0.916 in 9 epochs, then overfits; 0.05 at K = 32
// reaches 0.920 in 7 and climbs), a small init (0.01 beats 0.1 by ~0.002), K (32 ends ~0.0015
// worse). A constant per-row reg, or the optimizer's per-push l2, did worse.
// Then checked on a second set, so that they carry beyond the one they were tuned on: 2M
// generated ratings (embark gen --kind=ratings --rows=2000000 --seed=1: 40k users, 20k items,
// Bayes RMSE 0.553), trained one rating at a time in blocks (the default --sync=local path).
// There reg 0.08 ended at 0.695 against LIBMF's 0.671, and the smaller reg 0.05 ends at 0.677
// while u1 ends at 0.917 (best 0.915; 0.08: 0.9147, and 0.055: 0.9155 / 0.679). Smaller still
// or a larger step reaches 0.671 on the generated set but overfits u1 (0.04 at lr 0.03: 0.935).
// rowadagrad (LIBMF's per-row step, half the row's bytes) needs a small bias_scale: the bias
// column's scaled gradient otherwise dominates the row's one accumulator and the factors barely
// move (K 32, lr 0.1, scale 4: 0.78 on the 2M set after 16 epochs). At K 32, lr 0.1, reg 0.045,
// bias_scale 0.7 it reaches 0.6707 after 11 epochs there, but u1 overfits (best 0.924 after 5,
// 0.955 after 16; lr 0.05: 0.920 after 16), so the defaults stay AdaGrad.
struct MfOptions {
  uint32_t dim = 64;                 // K, latent factors
  float init_stddev = 0.01f;         // normal init of every column (factors and bias columns)
  float reg = 0.05f;                 // L2 on p_u, q_i per rating (see header comment)
  float bias_reg = 0.01f;            // L2 on b_u, b_i per rating
  float bias_scale = 4.0f;           // b = bias_scale * stored column (see header comment)
  float min_rating = 1.0f;           // Predict clips to [min_rating, max_rating]
  float max_rating = 5.0f;
  float global_mean = 3.5f;          // mu before the learned offset; pass the training mean
  bool learn_global_mean = true;     // false: the "global" table gets zero gradient
  int suggested_epochs = 16;         // passes over the training data the defaults were tuned for
  OptimizerConfig optimizer = DefaultOptimizer();

  static OptimizerConfig DefaultOptimizer() {
    OptimizerConfig o;
    o.kind = OptimizerKind::kAdaGrad;
    o.lr = 0.02f;
    return o;
  }
};

class MfModel : public Model {
 public:
  static constexpr int kUserTable = 0;
  static constexpr int kItemTable = 1;
  static constexpr int kGlobalTable = 2;
  static constexpr uint16_t kUserField = 0;
  static constexpr uint16_t kItemField = 1;

  explicit MfModel(const MfOptions& options) : options_(options) {}

  // Returns InvalidArgument when the options cannot describe a model (dim 0, min > max, ...).
  static Status Validate(const MfOptions& options);

  const MfOptions& options() const { return options_; }
  // Column of the bias inside a user or item row.
  int bias_column() const { return static_cast<int>(options_.dim); }

  std::string name() const override { return "mf"; }
  ModelDescription Describe() const override;
  std::vector<TableConfig> Tables() const override;
  int TableOfField(uint16_t field) const override;
  LossSum ForwardBackward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          Gradients* grads) const override;
  void Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
               float* preds) const override;
  bool TrainsExampleAtATime() const override { return true; }
  double ExampleForwardBackward(const Batch& batch, size_t e, const ExampleRows& rows) const override;
  bool PairTables(int* user, int* item) const override {
    *user = kUserTable;
    *item = kItemTable;
    return true;
  }
  double PairForwardBackward(const float* user_row, const float* item_row, float label, float* user_grad,
                             float* item_grad, const std::vector<float>* dense,
                             std::vector<float>* dense_grad) const override;

 private:
  // Loss of one rating and its gradients, added into gp / gq (for non-null p / q) and
  // *global_grad; the one place both training paths compute the maths.
  double RatingStep(double mu, const float* p, const float* q, float label, float* gp, float* gq,
                    double* global_grad) const;
  // Finds the user and item rows of example e (-1 when absent).
  void RowsOfExample(const Batch& batch, size_t e, const PulledRows& rows, int32_t* user_row,
                     int32_t* item_row) const;
  // Unclipped mu + b_u + b_i + <p_u, q_i> from stored rows; a null row contributes nothing.
  double RawPrediction(double mu, const float* user, const float* item) const;

  MfOptions options_;
};

}  // namespace embark
