#include "models/deepfm.h"

#include <Eigen/Core>
#include <cmath>

#include "models/dense_layer.h"
#include "models/logistic_regression.h"

namespace embark {
namespace {

using ConstVector = Eigen::Map<const Eigen::VectorXf>;
using VectorGrads = Eigen::Map<Eigen::VectorXf>;

}  // namespace

// Everything one call computes on its example range; column c is example begin + c.
struct DeepFmModel::Work {
  Eigen::MatrixXf factor_sum;          // K x n: sum_i v_i x_i (FM identity, and its gradient)
  std::vector<Eigen::MatrixXf> acts;   // acts[0] = h_0 (F*K x n), acts[l] = h_l after ReLU
  std::vector<double> logits;          // n
  double penalty = 0;                  // the per-use L2 term of the whole range
};

DeepFmModel::DeepFmModel(const DeepFmOptions& options) : options_(options) {
  uint32_t in = InputWidth();
  uint32_t offset = 0;
  for (uint32_t width : options_.hidden) {
    layer_in_.push_back(in);
    layer_out_.push_back(width);
    bias_offset_.push_back(offset);
    offset += width;
    in = width;
  }
  layer_in_.push_back(in);  // the output layer
  layer_out_.push_back(1);
}

Status DeepFmModel::Validate(const DeepFmOptions& o) {
  if (o.dim == 0) return Status::InvalidArgument("deepfm: dim must be at least 1");
  if (o.num_fields == 0 || o.num_fields > kMaxFields) {
    return Status::InvalidArgument("deepfm: num_fields " + std::to_string(o.num_fields) +
                                   " outside [1, " + std::to_string(kMaxFields) + "]");
  }
  if (static_cast<uint64_t>(o.num_fields) * o.dim > 65536) {
    return Status::InvalidArgument("deepfm: num_fields * dim (the MLP input width) is more than 65536");
  }
  for (size_t l = 0; l < o.hidden.size(); ++l) {
    if (o.hidden[l] == 0 || o.hidden[l] > kMaxWidth) {
      return Status::InvalidArgument("deepfm: hidden layer " + std::to_string(l) + " width " +
                                     std::to_string(o.hidden[l]) + " outside [1, " +
                                     std::to_string(kMaxWidth) + "]");
    }
  }
  if (!(o.init_stddev >= 0)) return Status::InvalidArgument("deepfm: init_stddev must be >= 0");
  if (!(o.out_init_scale >= 0)) return Status::InvalidArgument("deepfm: out_init_scale must be >= 0");
  if (!(o.mlp_l2 >= 0)) return Status::InvalidArgument("deepfm: mlp_l2 must be >= 0");
  if (!(o.mlp_lr_scale > 0)) return Status::InvalidArgument("deepfm: mlp_lr_scale must be > 0");
  if (!(o.reg >= 0)) return Status::InvalidArgument("deepfm: reg must be >= 0");
  return Status::OK();
}

std::vector<TableConfig> DeepFmModel::Tables() const {
  const size_t layers = layer_in_.size();  // hidden layers + the output layer
  std::vector<TableConfig> tables(3 + layers);
  TableConfig& v = tables[kFactorTable];
  v.name = "v";
  v.dim = options_.dim + 1;
  v.optimizer = options_.optimizer;
  v.init.kind = InitKind::kNormal;
  v.init.scale = options_.init_stddev;

  OptimizerConfig intercept = options_.optimizer;
  intercept.l1 = 0;
  intercept.l2 = 0;

  TableConfig& bias = tables[kBiasTable];
  bias.name = "bias";
  bias.dense = true;
  bias.dense_size = 1;
  bias.optimizer = intercept;
  bias.init.kind = InitKind::kZero;

  for (size_t l = 0; l < layers; ++l) {
    TableConfig& w = tables[LayerTable(l)];
    w.name = "mlp" + std::to_string(l);
    w.dense = true;
    w.dense_size = uint64_t{layer_in_[l]} * layer_out_[l];
    w.optimizer = options_.optimizer;
    w.optimizer.lr = options_.optimizer.lr * options_.mlp_lr_scale;
    w.optimizer.l2 = options_.mlp_l2;
    w.init.kind = InitKind::kNormal;
    const bool output = l + 1 == layers;
    w.init.scale = output ? options_.out_init_scale * std::sqrt(1.0f / layer_in_[l])
                          : std::sqrt(2.0f / layer_in_[l]);
  }

  TableConfig& hidden_bias = tables[HiddenBiasTable()];
  hidden_bias.name = "mlp_bias";
  hidden_bias.dense = true;
  uint64_t total = 0;
  for (uint32_t width : options_.hidden) total += width;
  // A dense table of size 0 would have no block to pull; with no hidden layer keep one unused
  // float so every DeepFM job has the same table list shape.
  hidden_bias.dense_size = total > 0 ? total : 1;
  hidden_bias.optimizer = intercept;
  hidden_bias.init.kind = InitKind::kZero;

  for (size_t t = 0; t < tables.size(); ++t) {
    tables[t].id = static_cast<uint32_t>(t);
    if (tables[t].dense) tables[t].dim = 1;
  }
  return tables;
}

void DeepFmModel::Forward(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          Work* work) const {
  const int k = static_cast<int>(options_.dim);
  const int width = k + 1;
  const Eigen::Index n = static_cast<Eigen::Index>(end - begin);
  const size_t hidden = num_hidden();
  work->factor_sum.setZero(k, n);
  work->acts.resize(hidden + 1);
  work->acts[0].setZero(InputWidth(), n);
  work->logits.assign(n, 0.0);

  // FM part and the MLP input, example by example (columns are contiguous).
  const double bias = rows.rows[kBiasTable][0];
  double penalty = 0;
  for (Eigen::Index c = 0; c < n; ++c) {
    const size_t e = begin + c;
    float* sum = work->factor_sum.col(c).data();
    float* input = work->acts[0].col(c).data();
    double linear = bias;
    float square_sum = 0;
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      const int32_t row = rows.row_of_feature[f];
      if (row < 0) continue;  // field >= num_fields: not pulled, ignored
      const float x = batch.values[f];
      const float* v = rows.Row(kFactorTable, row, width);
      linear += static_cast<double>(v[kLinearColumn]) * x;
      float norm = 0;
      for (int j = 0; j < width; ++j) norm += v[j] * v[j];
      penalty += norm;
      const float* factors = v + kFirstFactorColumn;
      float* embedding = input + static_cast<size_t>(batch.fields[f]) * k;
      for (int j = 0; j < k; ++j) {
        const float t = factors[j] * x;
        sum[j] += t;
        square_sum += t * t;
        embedding[j] += t;  // a second feature of the same field adds to the first
      }
    }
    float pair_sum = 0;
    for (int j = 0; j < k; ++j) pair_sum += sum[j] * sum[j];
    work->logits[c] = linear + 0.5 * (static_cast<double>(pair_sum) - square_sum);
  }
  work->penalty = 0.5 * options_.reg * penalty;

  // MLP, one matrix product per layer over all examples of the range.
  const float* hidden_bias = rows.rows[HiddenBiasTable()].data();
  for (size_t l = 0; l < hidden; ++l) {
    DenseForward(rows.rows[LayerTable(l)].data(), hidden_bias + bias_offset_[l], layer_out_[l], layer_in_[l],
                 /*relu=*/true, work->acts[l], &work->acts[l + 1]);
  }
  ConstVector w_out(rows.rows[LayerTable(hidden)].data(), layer_in_[hidden]);
  const Eigen::RowVectorXf mlp = w_out.transpose() * work->acts[hidden];
  for (Eigen::Index c = 0; c < n; ++c) work->logits[c] += mlp[c];
}

LossSum DeepFmModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                     const PulledRows& rows, Gradients* grads) const {
  LossSum out;
  out.examples = end - begin;
  if (begin >= end) return out;
  Work work;
  Forward(batch, begin, end, rows, &work);
  const Eigen::Index n = static_cast<Eigen::Index>(end - begin);
  const size_t hidden = num_hidden();

  Eigen::RowVectorXf dz(n);
  double bias_grad = 0;
  out.loss += work.penalty;
  for (Eigen::Index c = 0; c < n; ++c) {
    double d;
    out.loss += LogLossOfLogit(work.logits[c], ClickTarget(batch.labels[begin + c]), &d);
    bias_grad += d;
    dz[c] = static_cast<float>(d);
  }
  grads->rows[kBiasTable][0] += static_cast<float>(bias_grad);

  // Backpropagation through the MLP; `delta` is d loss / d (layer output), one column per example.
  ConstVector w_out(rows.rows[LayerTable(hidden)].data(), layer_in_[hidden]);
  VectorGrads g_out(grads->rows[LayerTable(hidden)].data(), layer_in_[hidden]);
  g_out.noalias() += work.acts[hidden] * dz.transpose();
  Eigen::MatrixXf delta = w_out * dz;
  float* hidden_bias_grad = grads->rows[HiddenBiasTable()].data();
  for (size_t l = hidden; l-- > 0;) {
    DenseBackward(rows.rows[LayerTable(l)].data(), layer_out_[l], layer_in_[l], work.acts[l], &work.acts[l + 1],
                  grads->rows[LayerTable(l)].data(), hidden_bias_grad + bias_offset_[l], &delta);
  }
  // delta is now d loss / d h_0 (F*K x n).

  // Rows of "v": FM gradient plus the MLP gradient of the field embedding, times x.
  const int k = static_cast<int>(options_.dim);
  const int width = k + 1;
  const float reg = options_.reg;
  for (Eigen::Index c = 0; c < n; ++c) {
    const size_t e = begin + c;
    const float g = dz[c];
    const float* sum = work.factor_sum.col(c).data();
    const float* input_grad = delta.col(c).data();
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      const int32_t row = rows.row_of_feature[f];
      if (row < 0) continue;
      const float x = batch.values[f];
      const float* v = rows.Row(kFactorTable, row, width);
      const float* factors = v + kFirstFactorColumn;
      float* grad = grads->Row(kFactorTable, row, width);
      grad[kLinearColumn] += g * x + reg * v[kLinearColumn];
      float* factor_grad = grad + kFirstFactorColumn;
      const float* embedding_grad = input_grad + static_cast<size_t>(batch.fields[f]) * k;
      // d z / d v_ik = x_i (sum_j v_jk x_j - v_ik x_i) from FM, + x_i d z / d e_{f_i, k};
      // plus the per-use L2.
      for (int j = 0; j < k; ++j) {
        factor_grad[j] += x * (g * (sum[j] - factors[j] * x) + embedding_grad[j]) + reg * factors[j];
      }
    }
  }
  return out;
}

void DeepFmModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                          float* preds) const {
  if (begin >= end) return;
  Work work;
  Forward(batch, begin, end, rows, &work);
  for (size_t e = begin; e < end; ++e) preds[e] = ClickProbability(work.logits[e - begin]);
}

ModelDescription DeepFmModel::Describe() const {
  const DeepFmOptions& o = options_;
  ModelDescription d;
  d.task = ModelTask::kClassification;
  d.prediction = "sigmoid(FM part as fm + w_out . h_L), h_0 = per-field sums of v_i x_i, "
                 "h_l = relu(W_l h_{l-1} + b_l); see models/deepfm.h";
  d.tables = {{"v", "w (linear weight) then v[0.." + std::to_string(o.dim) + ")"},
              {"bias", "the intercept (also the output bias of the MLP)"}};
  uint32_t in = o.num_fields * o.dim;
  const size_t layers = o.hidden.size();
  for (size_t l = 0; l <= layers; ++l) {
    const uint32_t out = l < layers ? o.hidden[l] : 1;
    d.tables.push_back({"mlp" + std::to_string(l),
                        std::to_string(out) + " x " + std::to_string(in) + " weights, row-major (row o = unit o)"});
    in = out;
  }
  d.tables.push_back({"mlp_bias", "b_0, b_1, ... of the hidden layers, one after another"});
  d.fields = {{"0.." + std::to_string(o.num_fields - 1), "", "v"}};
  d.embedding = EmbeddingColumns{"v", 1, 1 + o.dim};
  ModelAttribute hidden{"hidden", {}, true};
  for (uint32_t h : o.hidden) hidden.values.push_back(h);
  d.attributes = {{"dim", {double(o.dim)}}, {"num_fields", {double(o.num_fields)}}, hidden};
  return d;
}

}  // namespace embark
