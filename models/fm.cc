#include "models/fm.h"

#include "models/logistic_regression.h"

namespace embark {

Status FmModel::Validate(const FmOptions& o) {
  if (o.dim == 0) return Status::InvalidArgument("fm: dim must be at least 1");
  if (!(o.init_stddev >= 0)) return Status::InvalidArgument("fm: init_stddev must be >= 0");
  return Status::OK();
}

std::vector<TableConfig> FmModel::Tables() const {
  std::vector<TableConfig> tables(2);
  TableConfig& v = tables[kFactorTable];
  v.id = kFactorTable;
  v.name = "v";
  v.dim = options_.dim + 1;
  v.optimizer = options_.optimizer;
  v.init.kind = InitKind::kNormal;
  v.init.scale = options_.init_stddev;

  tables[kBiasTable] = InterceptTable(kBiasTable, options_.optimizer);
  return tables;
}

double FmModel::Logit(const Batch& batch, size_t e, const PulledRows& rows,
                      float* factor_sum) const {
  const int k = static_cast<int>(options_.dim);
  const int width = k + 1;
  for (int j = 0; j < k; ++j) factor_sum[j] = 0;
  double linear = rows.rows[kBiasTable][0];
  float square_sum = 0;  // sum_i sum_k (v_ik x_i)^2
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    const int32_t row = rows.row_of_feature[f];
    if (row < 0) continue;
    const float x = batch.values[f];
    const float* v = rows.Row(kFactorTable, row, width);
    linear += static_cast<double>(v[kLinearColumn]) * x;
    const float* factors = v + kFirstFactorColumn;
    for (int j = 0; j < k; ++j) {
      const float t = factors[j] * x;
      factor_sum[j] += t;
      square_sum += t * t;
    }
  }
  float pair_sum = 0;
  for (int j = 0; j < k; ++j) pair_sum += factor_sum[j] * factor_sum[j];
  return linear + 0.5 * (static_cast<double>(pair_sum) - square_sum);
}

LossSum FmModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                 const PulledRows& rows, Gradients* grads) const {
  const int k = static_cast<int>(options_.dim);
  const int width = k + 1;
  std::vector<float> factor_sum(k);
  double bias_grad = 0;
  LossSum out;
  for (size_t e = begin; e < end; ++e) {
    const double z = Logit(batch, e, rows, factor_sum.data());
    double dz;
    out.loss += LogLossOfLogit(z, ClickTarget(batch.labels[e]), &dz);
    bias_grad += dz;
    const float g = static_cast<float>(dz);
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      const int32_t row = rows.row_of_feature[f];
      if (row < 0) continue;
      const float x = batch.values[f];
      const float gx = g * x;
      const float* factors = rows.Row(kFactorTable, row, width) + kFirstFactorColumn;
      float* grad = grads->Row(kFactorTable, row, width);
      grad[kLinearColumn] += gx;
      float* factor_grad = grad + kFirstFactorColumn;
      // d z / d v_ik = x_i * (sum_j v_jk x_j - v_ik x_i)
      for (int j = 0; j < k; ++j) factor_grad[j] += gx * (factor_sum[j] - factors[j] * x);
    }
  }
  grads->rows[kBiasTable][0] += static_cast<float>(bias_grad);
  out.examples = end - begin;
  return out;
}

void FmModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                      float* preds) const {
  std::vector<float> factor_sum(options_.dim);
  for (size_t e = begin; e < end; ++e) {
    preds[e] = ClickProbability(Logit(batch, e, rows, factor_sum.data()));
  }
}

ModelDescription FmModel::Describe() const {
  ModelDescription d;
  d.task = ModelTask::kClassification;
  d.prediction = "sigmoid(bias + sum_i w_i x_i + sum_{i<j} dot(v_i, v_j) x_i x_j)";
  d.tables = {{"v", "w (linear weight) then v[0.." + std::to_string(options_.dim) + ")"}, {"bias", "the intercept"}};
  d.fields = {{"all", "", "v"}};
  d.embedding = EmbeddingColumns{"v", 1, 1 + options_.dim};
  d.attributes = {{"dim", {double(options_.dim)}}};
  d.factorization = FactorizationKind::kFm;
  d.dim = options_.dim;
  d.init_stddev = options_.init_stddev;
  return d;
}

}  // namespace embark
