// FfmModel: a field-aware factorisation machine (Juan et al., RecSys 2016) for click prediction.
//
//   z = bias + sum_j w_j x_j + sum_{j<l} <v_{j,f_l}, v_{l,f_j}> x_j x_l,   p(click) = sigmoid(z)
//
// where f_j is the field of feature j: every feature keeps one K-dim vector per field, and the
// pair (j, l) uses j's vector for l's field and l's vector for j's field. Unlike FM there is no
// O(n K) identity, so an example with n features costs O(n^2 K) (45 pairs on Frappe).
//
// Tables, in this order:
//   0 "v"    sparse, dim 1 + num_fields*K: column 0 = linear weight w; columns
//            1 + f*K .. 1 + f*K + K-1 = the vector v_{.,f} used against features of field f.
//   1 "bias" dense, 1 float: the intercept (same convention as FmModel / LR).
// Every column of "v" starts from the same normal noise, init_stddev (InitConfig is per table).
//
// Fields: the number of fields is fixed up front (FfmOptions::num_fields) because it sets the
// row width. A feature whose field is >= num_fields is IGNORED here: TableOfField returns -1
// for it, so the worker never pulls a row for it and it adds nothing to the linear or pairwise
// terms. (A model cannot reject it: it sees batches only inside ForwardBackward, which has no
// way to report an error.) The trainer makes sure that never happens silently: without
// --num_fields it takes the count from the data, with it the reader refuses a libffm line with
// a higher field (worker/field_count.h).
//
// Loss: logloss of the logit (labels as in models/logistic_regression.h) plus an L2 penalty
// PER USE, computed here in the model (like MfModel, unlike FM/LR):
//   0.5 * reg * ( sum_j w_j^2 + sum_{j<l} (|v_{j,f_l}|^2 + |v_{l,f_j}|^2) )   per example,
// so each weight is pulled towards 0 once for every example (and pair) that uses it, as in
// libffm/xLearn. Why not only the optimizer's per-push l2: a push carries the gradient summed
// over a minibatch but the l2 once, so a per-push l2 is 100x stronger per example on a user or
// item seen once per batch than on a weekday seen 100 times; FFM's many per-field vectors
// overfit the frequent features and starve the rare ones under it (Frappe, K = 4: test
// logloss 0.270 at best over a sweep of per-push l2 and lr, against 0.222 with the per-use
// penalty). The optimizer's per-push l2 is 0 by default: the earlier 0.01 on top of reg cost
// 0.003-0.004 of test logloss on 1M generated clicks and nothing on Frappe once the step was
// 0.2. The reported loss includes the penalty.
// Instance normalisation (FfmOptions::instance_norm, off by default): every value x_j of an
// example is replaced by x_j / |x| (|x| over the features the model uses), so pairs are scaled
// by 1/|x|^2 as in libffm and xLearn. For rows of equal length (one-hot data) this is only a
// rescaling of the hyper-parameters (lr, init, reg, the AdaGrad start), which is why it is off:
// the defaults below are tuned without it. With it on, the optimizer's per-push l2 is 0 and the
// per-use reg wants to be ~10x smaller (`--instance_norm --l2=2e-5 --lr=0.2` is libffm's
// setting; see README, Model quality).
//
// AdaGrad's accumulator starts at 1 (OptimizerConfig::adagrad_init), as in libffm and xLearn,
// not at 0: from 0 the first step of every coordinate is lr * sign(g), so a feature seen once
// jumps by lr = 0.3 in each of its num_fields*K coordinates, and with 12 fields on 800k
// generated clicks FFM memorised rare users and ended no better than FM (test logloss 0.4236
// vs 0.4239). From 1 a small gradient takes a small step (lr * g / sqrt(1 + g^2)); with the
// smaller init (0.05 instead of 0.2) FFM reaches 0.4172 there and Frappe stays at 0.2226.
//
// Thread-safety: immutable after construction; ForwardBackward and Predict are const and safe to
// call concurrently on disjoint example ranges writing to distinct Gradients. Each call
// allocates one scratch buffer sized by the longest example in its range (per call, not per
// example).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"
#include "ps/table_config.h"

namespace embark {

// Defaults checked on the Frappe dev split with train-local (batch 256, 14 epochs) and on
// generated clicks (`gen --kind=clicks --rows=1000000`, 12 fields, 5 epochs). Frappe: test
// logloss 0.2232, against 0.2265 for xLearn's FFM and 0.2364 for libffm (both k = 8,
// early-stopped on the test set); the clicks: 0.4151 (libffm 0.4002, xLearn 0.3994).
// Neighbours (lr, reg): (0.3, 0.015) with a per-push l2 of 0.01, the defaults before, Frappe
// 0.2234 and clicks 0.4180; (0.2, 0.01) 0.2243 and 0.4125; (0.2, 0.005) 0.2321 and 0.4261
// (0.3983 after 2 epochs); (0.05, 0.002) reaches 0.3953 on the clicks after 3 epochs but 0.26
// on Frappe. The noisier clicks want a weak per-use reg and Frappe a strong one: the defaults
// keep Frappe.
// K = 16 reaches 0.2157 at twice the row width; K = 8 matches the peers' setting.
struct FfmOptions {
  uint32_t dim = 8;            // K, factors per (feature, field)
  uint32_t num_fields = 10;    // fields 0..num_fields-1 are used; others are ignored
  float init_stddev = 0.05f;   // normal init of every column of "v"
  float reg = 0.015f;          // L2 per use of a weight in an example (see the header comment)
  bool instance_norm = false;  // scale each example's values by 1/|x| (see the header comment)
  int suggested_epochs = 14;   // passes over the data the defaults were checked with
  OptimizerConfig optimizer = DefaultOptimizer();

  static OptimizerConfig DefaultOptimizer() {
    OptimizerConfig o;
    o.kind = OptimizerKind::kAdaGrad;
    o.lr = 0.2f;
    o.l2 = 0.0f;  // the penalty is reg, per use
    o.adagrad_init = 1.0f;  // as libffm and xLearn: rare features take small first steps
    return o;
  }
};

class FfmModel : public Model {
 public:
  static constexpr int kFactorTable = 0;
  static constexpr int kBiasTable = 1;
  static constexpr int kLinearColumn = 0;
  static constexpr int kFirstFactorColumn = 1;
  static constexpr uint32_t kMaxFields = 1024;  // rows are 1 + num_fields*K floats wide

  explicit FfmModel(const FfmOptions& options) : options_(options) {}

  static Status Validate(const FfmOptions& options);
  const FfmOptions& options() const { return options_; }

  // Floats per row of "v": 1 + num_fields * K.
  uint32_t RowDim() const { return 1 + options_.num_fields * options_.dim; }

  std::string name() const override { return "ffm"; }
  ModelDescription Describe() const override;
  std::vector<TableConfig> Tables() const override;
  int TableOfField(uint16_t field) const override {
    return field < options_.num_fields ? kFactorTable : -1;
  }
  LossSum ForwardBackward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          Gradients* grads) const override;
  void Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
               float* preds) const override;

 // One used feature occurrence of the example being computed: its row, where its gradient
  // goes (nullptr when only predicting), its field and its value (after normalisation).
  struct Use {
    const float* v;
    float* g;
    uint32_t field;
    float x;
  };

 private:
  // Collects example e's used features into uses (sized by the caller) and returns how many;
  // grads may be null (Predict).
  size_t Gather(const Batch& batch, size_t e, const PulledRows& rows, Gradients* grads, Use* uses) const;
  // Instance normalisation, when on: x / |x| over the used features.
  void Normalise(Use* uses, size_t n) const;
  // The logit; adds the example's per-use penalty to *penalty if non-null.
  double Logit(const Use* uses, size_t n, float bias, double* penalty) const;
  // Adds d(loss)/d(row) for dz = g, penalty included, into each use's g.
  void Backward(const Use* uses, size_t n, float g) const;
  // Longest example (in features) of [begin, end): the scratch size for Gather.
  static size_t MaxFeatures(const Batch& batch, size_t begin, size_t end);

  FfmOptions options_;
};

}  // namespace embark
