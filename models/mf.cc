#include "models/mf.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>

namespace embark {

namespace {
// The factor loops are the hot path of MF training: Eigen vectorises the sums explicitly
// (plain loops would not, since reordering a float sum needs -ffast-math).
using Vec = Eigen::Map<Eigen::VectorXf>;
using ConstVec = Eigen::Map<const Eigen::VectorXf>;
}  // namespace

Status MfModel::Validate(const MfOptions& o) {
  if (o.dim == 0) return Status::InvalidArgument("mf: dim must be at least 1");
  if (!(o.min_rating <= o.max_rating)) {
    return Status::InvalidArgument("mf: min_rating " + std::to_string(o.min_rating) +
                                   " is above max_rating " + std::to_string(o.max_rating));
  }
  if (!(o.init_stddev >= 0) || !(o.reg >= 0) || !(o.bias_reg >= 0) ||
      !std::isfinite(o.global_mean)) {
    return Status::InvalidArgument(
        "mf: init_stddev, reg and bias_reg must be >= 0 and global_mean finite");
  }
  if (!(o.bias_scale > 0) || !std::isfinite(o.bias_scale)) {
    return Status::InvalidArgument("mf: bias_scale must be a positive number");
  }
  return Status::OK();
}

std::vector<TableConfig> MfModel::Tables() const {
  std::vector<TableConfig> tables(3);
  const char* const names[2] = {"user", "item"};
  for (int t = 0; t < 2; ++t) {
    tables[t].id = static_cast<uint32_t>(t);
    tables[t].name = names[t];
    tables[t].dim = options_.dim + 1;
    tables[t].optimizer = options_.optimizer;
    tables[t].optimizer.l2 = 0;  // regularisation is in the gradient, per rating
    tables[t].optimizer.l1 = 0;
    // The bias column gets the same small noise as the factors: InitConfig is per table, and
    // a bias of +-0.1 at start is forgotten after a few updates.
    tables[t].init.kind = InitKind::kNormal;
    tables[t].init.scale = options_.init_stddev;
  }
  TableConfig& global = tables[kGlobalTable];
  global.id = kGlobalTable;
  global.name = "global";
  global.dim = 1;
  global.dense = true;
  global.dense_size = 1;
  global.optimizer = options_.optimizer;
  global.optimizer.l1 = 0;
  global.optimizer.l2 = 0;
  global.init.kind = InitKind::kZero;
  return tables;
}

int MfModel::TableOfField(uint16_t field) const {
  if (field == kUserField) return kUserTable;
  if (field == kItemField) return kItemTable;
  return -1;
}

void MfModel::RowsOfExample(const Batch& batch, size_t e, const PulledRows& rows,
                            int32_t* user_row, int32_t* item_row) const {
  *user_row = -1;
  *item_row = -1;
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    const uint16_t field = batch.fields[f];
    if (field == kUserField) {
      *user_row = rows.row_of_feature[f];
    } else if (field == kItemField) {
      *item_row = rows.row_of_feature[f];
    }
  }
}

double MfModel::RawPrediction(double mu, const float* user, const float* item) const {
  const int k = static_cast<int>(options_.dim);
  const double s = options_.bias_scale;
  double pred = mu;
  if (user != nullptr) pred += s * user[k];
  if (item != nullptr) pred += s * item[k];
  if (user != nullptr && item != nullptr) pred += ConstVec(user, k).dot(ConstVec(item, k));  // float, vectorised
  return pred;
}

double MfModel::RatingStep(double mu, const float* p, const float* q, float label, float* gp,
                           float* gq, double* global_grad) const {
  const int k = static_cast<int>(options_.dim);
  const float reg = options_.reg;
  const float bias_reg = options_.bias_reg;
  const float s = options_.bias_scale;
  const double err_d = RawPrediction(mu, p, q) - label;
  double loss = 0.5 * err_d * err_d;
  const float err = static_cast<float>(err_d);
  *global_grad += err_d;
  if (p != nullptr) {
    Vec g(gp, k);
    if (q != nullptr) g += err * ConstVec(q, k) + reg * ConstVec(p, k);
    else g += reg * ConstVec(p, k);
    const double sq = ConstVec(p, k).squaredNorm();
    const float b = s * p[k];
    gp[k] += s * (err + bias_reg * b);  // chain rule through b = s * column
    loss += 0.5 * reg * sq + 0.5 * bias_reg * static_cast<double>(b) * b;
  }
  if (q != nullptr) {
    Vec g(gq, k);
    if (p != nullptr) g += err * ConstVec(p, k) + reg * ConstVec(q, k);
    else g += reg * ConstVec(q, k);
    const double sq = ConstVec(q, k).squaredNorm();
    const float b = s * q[k];
    gq[k] += s * (err + bias_reg * b);
    loss += 0.5 * reg * sq + 0.5 * bias_reg * static_cast<double>(b) * b;
  }
  return loss;
}

LossSum MfModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                 const PulledRows& rows, Gradients* grads) const {
  const int width = static_cast<int>(options_.dim) + 1;
  const double mu = options_.global_mean + rows.rows[kGlobalTable][0];
  double global_grad = 0;
  LossSum out;
  for (size_t e = begin; e < end; ++e) {
    int32_t user_row, item_row;
    RowsOfExample(batch, e, rows, &user_row, &item_row);
    const float* p = user_row >= 0 ? rows.Row(kUserTable, user_row, width) : nullptr;
    const float* q = item_row >= 0 ? rows.Row(kItemTable, item_row, width) : nullptr;
    float* gp = p != nullptr ? grads->Row(kUserTable, user_row, width) : nullptr;
    float* gq = q != nullptr ? grads->Row(kItemTable, item_row, width) : nullptr;
    out.loss += RatingStep(mu, p, q, batch.labels[e], gp, gq, &global_grad);
  }
  if (options_.learn_global_mean) {
    grads->rows[kGlobalTable][0] += static_cast<float>(global_grad);
  }
  out.examples = end - begin;
  return out;
}

double MfModel::ExampleForwardBackward(const Batch& batch, size_t e, const ExampleRows& rows) const {
  const double mu = options_.global_mean + rows.dense[kGlobalTable][0];
  const float* p = nullptr;
  const float* q = nullptr;
  float* gp = nullptr;
  float* gq = nullptr;
  // As RowsOfExample: the last occurrence of each field wins.
  for (uint32_t f = batch.offsets[e], j = 0; f < batch.offsets[e + 1]; ++f, ++j) {
    if (batch.fields[f] == kUserField) {
      p = rows.row[j];
      gp = rows.grad[j];
    } else if (batch.fields[f] == kItemField) {
      q = rows.row[j];
      gq = rows.grad[j];
    }
  }
  if (p == nullptr) gp = nullptr;
  if (q == nullptr) gq = nullptr;
  double global_grad = 0;
  const double loss = RatingStep(mu, p, q, batch.labels[e], gp, gq, &global_grad);
  if (options_.learn_global_mean) rows.dense_grad[kGlobalTable][0] += static_cast<float>(global_grad);
  return loss;
}

namespace {
// The block loop's kernel: one rating with both rows, gradients written (not added). One pass
// over both rows sums <p, q> and |p|^2 + |q|^2 in kLanes independent lane sums (which the
// compiler keeps in vector registers, as it may not reorder one float sum), reduced once; a
// second pass writes both gradients. K > 0 fixes the factor count at compile time (the loops
// unroll into whole registers); K = 0 reads it from `k`.
template <int K>
inline double PairKernel(int k, float reg, float bias_reg, float s, double mu, const float* __restrict p,
                         const float* __restrict q, float label, float* __restrict gp, float* __restrict gq,
                         double* err_out) {
  if (K > 0) k = K;
  constexpr int kLanes = 16;
  float dot[kLanes] = {}, sq[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= k; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      dot[l] += p[j + l] * q[j + l];
      sq[l] += p[j + l] * p[j + l] + q[j + l] * q[j + l];
    }
  // The tail (K = 0 only) sums apart: lanes indexed by a loop variable would live in memory.
  float dot_tail = 0, sq_tail = 0;
  for (; j < k; ++j) {
    dot_tail += p[j] * q[j];
    sq_tail += p[j] * p[j] + q[j] * q[j];
  }
  // Pairwise across the lanes (vector adds), not a serial chain through every lane.
  for (int half = kLanes / 2; half > 0; half /= 2)
    for (int l = 0; l < half; ++l) {
      dot[l] += dot[l + half];
      sq[l] += sq[l + half];
    }
  const double d = dot[0] + dot_tail, n2 = sq[0] + sq_tail;
  const float bu = s * p[k], bi = s * q[k];
  const double err_d = mu + bu + bi + d - label;
  const float err = static_cast<float>(err_d);
  for (int c = 0; c < k; ++c) {
    gp[c] = err * q[c] + reg * p[c];
    gq[c] = err * p[c] + reg * q[c];
  }
  gp[k] = s * (err + bias_reg * bu);
  gq[k] = s * (err + bias_reg * bi);
  *err_out = err_d;
  return 0.5 * err_d * err_d + 0.5 * reg * n2 +
         0.5 * bias_reg * (static_cast<double>(bu) * bu + static_cast<double>(bi) * bi);
}
}  // namespace

double MfModel::PairForwardBackward(const float* user_row, const float* item_row, float label, float* user_grad,
                                    float* item_grad, const std::vector<float>* dense,
                                    std::vector<float>* dense_grad) const {
  // RatingStep's maths for a rating with both rows, written for the block loop (PairKernel).
  const int k = static_cast<int>(options_.dim);
  const float reg = options_.reg, bias_reg = options_.bias_reg, s = options_.bias_scale;
  const double mu = options_.global_mean + dense[kGlobalTable][0];
  double err = 0, loss = 0;
  switch (k) {
    case 32: loss = PairKernel<32>(k, reg, bias_reg, s, mu, user_row, item_row, label, user_grad, item_grad, &err); break;
    case 64: loss = PairKernel<64>(k, reg, bias_reg, s, mu, user_row, item_row, label, user_grad, item_grad, &err); break;
    case 128: loss = PairKernel<128>(k, reg, bias_reg, s, mu, user_row, item_row, label, user_grad, item_grad, &err); break;
    default: loss = PairKernel<0>(k, reg, bias_reg, s, mu, user_row, item_row, label, user_grad, item_grad, &err);
  }
  if (options_.learn_global_mean) dense_grad[kGlobalTable][0] += static_cast<float>(err);
  return loss;
}

void MfModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                      float* preds) const {
  const int width = static_cast<int>(options_.dim) + 1;
  const double mu = options_.global_mean + rows.rows[kGlobalTable][0];
  for (size_t e = begin; e < end; ++e) {
    int32_t user_row, item_row;
    RowsOfExample(batch, e, rows, &user_row, &item_row);
    const float* p = user_row >= 0 ? rows.Row(kUserTable, user_row, width) : nullptr;
    const float* q = item_row >= 0 ? rows.Row(kItemTable, item_row, width) : nullptr;
    const double pred = RawPrediction(mu, p, q);
    preds[e] = static_cast<float>(
        std::min<double>(options_.max_rating, std::max<double>(options_.min_rating, pred)));
  }
}

ModelDescription MfModel::Describe() const {
  const uint32_t k = options_.dim;
  const std::string kk = std::to_string(k);
  ModelDescription d;
  d.task = ModelTask::kRegression;
  d.prediction = "clip(mu + b_u + b_i + dot(p_u, q_i), min_rating, max_rating); a missing user or item contributes 0";
  d.tables = {{"user", "p_u[0.." + kk + ") then the bias b_u (column " + kk + ")"},
              {"item", "q_i[0.." + kk + ") then the bias b_i (column " + kk + ")"},
              {"global", "mu, the global mean rating (configured mean plus the learned offset)"}};
  d.fields = {{"0", "user", "user"}, {"1", "item", "item"}};
  d.embedding = EmbeddingColumns{"user", 0, k};
  // Biases are stored as b / bias_scale and the mean as an offset to the configured one
  // (see the header comment); a bundle holds the real b and mu.
  d.transforms = {{"user", k, options_.bias_scale, 0},
                  {"item", k, options_.bias_scale, 0},
                  {"global", 0, 1, options_.global_mean}};
  d.attributes = {{"dim", {double(k)}},
                  {"bias_column", {double(k)}},
                  {"min_rating", {options_.min_rating}},
                  {"max_rating", {options_.max_rating}},
                  {"bias_scale_applied", {options_.bias_scale}}};
  d.row_topk = RowDotTopK{k, k, options_.bias_scale};
  return d;
}

}  // namespace embark
