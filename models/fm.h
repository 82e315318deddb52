// FmModel: a factorisation machine (Rendle 2010) for click prediction.
//
//   z = bias + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j,   p(click) = sigmoid(z)
//
// computed in O(n K) with the sum-of-squares identity
//   sum_{i<j} <v_i, v_j> x_i x_j = 0.5 * sum_k [ (sum_i v_ik x_i)^2 - sum_i v_ik^2 x_i^2 ].
//
// Tables, in this order:
//   0 "v"    sparse, dim K+1: column 0 = linear weight w, columns 1..K = factor v (all fields)
//   1 "bias" dense, 1 float: the intercept (same layout as LogisticRegressionModel's, so the
//            CTR models share one convention; FFM and DeepFM add their own tables after these).
// Every column of "v" starts from the same small normal noise (InitConfig is per table; a
// linear weight of +-0.01 at start does no harm). Loss: logloss of the logit, labels as in
// models/logistic_regression.h. Regularisation is the optimizer's l2 (per push), so the
// gradient returned is the plain logloss gradient.
//
// Thread-safety: immutable after construction; ForwardBackward and Predict are const and safe to
// call concurrently on disjoint example ranges writing to distinct Gradients. Each call
// allocates one K-float scratch buffer (per call, not per example).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"
#include "ps/table_config.h"

namespace embark {

// Defaults checked on the Frappe dev split (batch 256): test logloss 0.279-0.284 and AUC
// 0.934-0.937 from 4 to 10 epochs, against 0.302 / 0.926 for the default LR. The l2 is per push of a gradient summed
// over the batch, hence much larger than the per-example lambdas of single-machine FM tools;
// with l2 = 1e-4 the model overfits after 3 epochs.
struct FmOptions {
  uint32_t dim = 8;            // K, factors per feature
  float init_stddev = 0.01f;   // normal init of every column of "v"
  int suggested_epochs = 8;    // passes over the data the defaults were checked with
  OptimizerConfig optimizer = DefaultOptimizer();

  static OptimizerConfig DefaultOptimizer() {
    OptimizerConfig o;
    o.kind = OptimizerKind::kAdaGrad;
    o.lr = 0.2f;
    o.l2 = 0.1f;
    return o;
  }
};

class FmModel : public Model {
 public:
  static constexpr int kFactorTable = 0;
  static constexpr int kBiasTable = 1;
  static constexpr int kLinearColumn = 0;
  static constexpr int kFirstFactorColumn = 1;

  explicit FmModel(const FmOptions& options) : options_(options) {}

  static Status Validate(const FmOptions& options);
  const FmOptions& options() const { return options_; }

  std::string name() const override { return "fm"; }
  ModelDescription Describe() const override;
  std::vector<TableConfig> Tables() const override;
  int TableOfField(uint16_t field) const override { return kFactorTable; }
  LossSum ForwardBackward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          Gradients* grads) const override;
  void Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
               float* preds) const override;

 private:
  // Returns the logit of example e and leaves sum_i v_ik x_i in factor_sum[0..K).
  double Logit(const Batch& batch, size_t e, const PulledRows& rows, float* factor_sum) const;

  FmOptions options_;
};

}  // namespace embark
