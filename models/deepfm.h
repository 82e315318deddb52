// DeepFmModel: DeepFM (Guo et al., IJCAI 2017) for click prediction: a factorisation machine
// and a multi-layer perceptron that share the feature embeddings.
//
//   z = bias + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j        (the FM part, as FmModel)
//         + w_out . h_L,  h_l = relu(W_l h_{l-1} + b_l),  h_0 = [e_0, e_1, ..., e_{F-1}]
//   p(click) = sigmoid(z)
//
// where e_f = sum of v_i x_i over the features i of field f (F = num_fields, so h_0 has F*K
// inputs). Frappe and most CTR sets have exactly one feature per field; a field with no
// feature in an example contributes zeros, and several features of one field are summed (the
// natural reading of a multi-hot field as a bag). The output layer has no bias of its own: the
// global "bias" is the output bias.
//
// Fields: as in FfmModel, a feature whose field is >= num_fields is IGNORED (TableOfField
// returns -1, so it is never pulled and adds nothing to either part): the MLP input width
// depends on num_fields, and the FM part is kept consistent with it. The trainer never lets
// that happen silently (worker/field_count.h: the count comes from the data, or a libffm line
// with a higher field is refused).
//
// Tables, in this order (L = number of hidden layers, hidden[l] their widths):
//   0          "v"        sparse, dim K+1: column 0 = linear weight w, columns 1..K = v
//                         (FmModel's layout; the FM part computes what FmModel does)
//   1          "bias"     dense, 1 float: the intercept
//   2 + l      "mlp<l>"   dense, l = 0..L-1: W_l, hidden[l] x in_l floats, ROW-major (row o
//                         holds the weights of unit o), in_0 = F*K, in_l = hidden[l-1];
//                         normal init with stddev sqrt(2 / in_l) (He init, suited to ReLU)
//   2 + L      "mlp<L>"   dense: w_out, in_L floats (in_L = hidden[L-1], or F*K if L = 0);
//                         normal init with stddev out_init_scale * sqrt(1 / in_L)
//   3 + L      "mlp_bias" dense: b_0, b_1, ..., b_{L-1} one after another (sum of hidden[]
//                         floats), zero init and no l2 (like every intercept)
// One table per layer so each layer gets the init scale its fan-in calls for (InitConfig is per
// table); the biases are apart so they can start at zero.
//
// Regularisation: as in FfmModel (see models/ffm.h for why), the "v" rows get an L2 penalty
// PER USE computed in the model, 0.5 * reg * |row|^2 per feature occurrence (linear weight and
// factors), included in the reported loss. The weight layers, which every push updates, use the
// optimizer's per-push l2 (mlp_l2) instead. Optimizers: "v" uses `optimizer` (its l2 is a
// per-push term on top of reg, 0 by default); the weight layers use the same kind with
// lr = optimizer.lr * mlp_lr_scale and l2 = mlp_l2: they see a gradient summed over the whole
// batch at every push, so they need a much smaller step than a row of "v" touched by a few
// examples. The intercepts ("bias", "mlp_bias") use the optimizer with l1 = l2 = 0.
//
// Computation: the FM part is per example (O(nK)); the MLP is batched over the example range as
// matrix products (Eigen, maps over the pulled flat vectors, no copy of the weights), one column
// per example, then backpropagated the same way; the gradient reaching h_0 is scattered back to
// the rows of "v".
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

// Defaults checked on the Frappe dev split with train-local (batch 256, 14 epochs, seeds 1-3):
// test logloss 0.2393-0.2417 (mean 0.2401), against 0.2779 for the default FM. Most of the gain
// is the per-use L2 and the wider embedding: the same FM part with the MLP switched off reaches
// 0.2399 (K = 16: 0.2502 with, 0.2490 without the MLP). With a weaker mlp_l2 (<= 3) or a larger
// mlp_lr_scale the MLP overfits Frappe within 3-5 epochs (0.25 at best, then rising), with
// Adam as well; the strong mlp_l2 keeps it harmless rather than helpful here. Larger, denser
// data sets should get a smaller mlp_l2.
struct DeepFmOptions {
  uint32_t dim = 32;                     // K, factors per feature
  uint32_t num_fields = 10;              // fields 0..num_fields-1 are used; others are ignored
  std::vector<uint32_t> hidden = {64, 32};  // widths of the hidden layers; empty = none
  float init_stddev = 0.1f;              // normal init of every column of "v"
  float reg = 0.05f;                     // L2 per use of a "v" row (see the header comment)
  float out_init_scale = 1.0f;           // output layer init: this * sqrt(1 / in_L)
  float mlp_lr_scale = 0.05f;            // weight layers step at optimizer.lr * this
  float mlp_l2 = 30.0f;                  // l2 of the weight layers, per push
  int suggested_epochs = 14;             // passes over the data the defaults were checked with
  OptimizerConfig optimizer = DefaultOptimizer();

  static OptimizerConfig DefaultOptimizer() {
    OptimizerConfig o;
    o.kind = OptimizerKind::kAdaGrad;
    o.lr = 0.2f;
    o.l2 = 0.0f;  // per push on "v", on top of reg
    return o;
  }
};

class DeepFmModel : public Model {
 public:
  static constexpr int kFactorTable = 0;
  static constexpr int kBiasTable = 1;
  static constexpr int kFirstLayerTable = 2;
  static constexpr int kLinearColumn = 0;
  static constexpr int kFirstFactorColumn = 1;
  static constexpr uint32_t kMaxFields = 1024;
  static constexpr uint32_t kMaxWidth = 4096;  // of one hidden layer

  explicit DeepFmModel(const DeepFmOptions& options);

  static Status Validate(const DeepFmOptions& options);
  const DeepFmOptions& options() const { return options_; }

  // Table index of weight layer l (0..num_hidden(), the last being the output layer) and of the
  // hidden biases.
  int LayerTable(size_t l) const { return kFirstLayerTable + static_cast<int>(l); }
  int HiddenBiasTable() const { return kFirstLayerTable + static_cast<int>(options_.hidden.size()) + 1; }
  size_t num_hidden() const { return options_.hidden.size(); }
  // Width of the MLP input: num_fields * K.
  uint32_t InputWidth() const { return options_.num_fields * options_.dim; }

  std::string name() const override { return "deepfm"; }
  ModelDescription Describe() const override;
  std::vector<TableConfig> Tables() const override;
  int TableOfField(uint16_t field) const override {
    return field < options_.num_fields ? kFactorTable : -1;
  }
  LossSum ForwardBackward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          Gradients* grads) const override;
  void Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
               float* preds) const override;

 private:
  struct Work;  // activations of one call, defined in deepfm.cc

  // Computes the logits of examples [begin, end) into work (FM part per example, MLP batched),
  // keeping what the backward pass needs.
  void Forward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
               Work* work) const;

  DeepFmOptions options_;
  std::vector<uint32_t> layer_in_;       // fan-in of weight layer l (size L+1)
  std::vector<uint32_t> layer_out_;      // fan-out of weight layer l (1 for the output layer)
  std::vector<uint32_t> bias_offset_;    // start of b_l in "mlp_bias" (size L)
};

}  // namespace embark
