#include "models/logistic_regression.h"

namespace embark {

std::vector<TableConfig> LogisticRegressionModel::Tables() const {
  std::vector<TableConfig> tables(2);
  TableConfig& w = tables[kWeightTable];
  w.id = kWeightTable;
  w.name = "w";
  w.dim = 1;
  w.optimizer = options_.optimizer;
  w.init.kind = InitKind::kZero;  // FTRL starts from 0; a feature never seen stays exactly 0

  tables[kBiasTable] = InterceptTable(kBiasTable, options_.optimizer);
  return tables;
}

double LogisticRegressionModel::Logit(const Batch& batch, size_t e, const PulledRows& rows) const {
  const std::vector<float>& w = rows.rows[kWeightTable];
  double z = rows.rows[kBiasTable][0];
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    const int32_t row = rows.row_of_feature[f];
    if (row >= 0) z += static_cast<double>(w[row]) * batch.values[f];
  }
  return z;
}

LossSum LogisticRegressionModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                                 const PulledRows& rows,
                                                 Gradients* grads) const {
  std::vector<float>& gw = grads->rows[kWeightTable];
  double bias_grad = 0;
  LossSum out;
  for (size_t e = begin; e < end; ++e) {
    double dz;
    out.loss += LogLossOfLogit(Logit(batch, e, rows), ClickTarget(batch.labels[e]), &dz);
    bias_grad += dz;
    const float g = static_cast<float>(dz);
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      const int32_t row = rows.row_of_feature[f];
      if (row >= 0) gw[row] += g * batch.values[f];
    }
  }
  grads->rows[kBiasTable][0] += static_cast<float>(bias_grad);
  out.examples = end - begin;
  return out;
}

void LogisticRegressionModel::Predict(const Batch& batch, size_t begin, size_t end,
                                      const PulledRows& rows, float* preds) const {
  for (size_t e = begin; e < end; ++e) preds[e] = ClickProbability(Logit(batch, e, rows));
}

ModelDescription LogisticRegressionModel::Describe() const {
  ModelDescription d;
  d.task = ModelTask::kClassification;
  d.prediction = "sigmoid(bias + sum_i w_i x_i)";
  d.tables = {{"w", "w, the weight of the feature"}, {"bias", "the intercept"}};
  d.fields = {{"all", "", "w"}};
  return d;  // no embedding vectors: a weight per feature
}

}  // namespace embark
