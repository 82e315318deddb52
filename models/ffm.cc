#include "models/ffm.h"

#include <algorithm>
#include <cmath>

#include "models/logistic_regression.h"

namespace embark {

Status FfmModel::Validate(const FfmOptions& o) {
  if (o.dim == 0) return Status::InvalidArgument("ffm: dim must be at least 1");
  if (o.num_fields == 0 || o.num_fields > kMaxFields) {
    return Status::InvalidArgument("ffm: num_fields " + std::to_string(o.num_fields) +
                                   " outside [1, " + std::to_string(kMaxFields) + "]");
  }
  // The row is pulled per feature occurrence; keep it within what a typo-free job would ask.
  if (static_cast<uint64_t>(o.num_fields) * o.dim > 65536) {
    return Status::InvalidArgument("ffm: num_fields * dim = " +
                                   std::to_string(static_cast<uint64_t>(o.num_fields) * o.dim) +
                                   " floats per row is more than 65536");
  }
  if (!(o.init_stddev >= 0)) return Status::InvalidArgument("ffm: init_stddev must be >= 0");
  if (!(o.reg >= 0)) return Status::InvalidArgument("ffm: reg must be >= 0");
  return Status::OK();
}

std::vector<TableConfig> FfmModel::Tables() const {
  std::vector<TableConfig> tables(2);
  TableConfig& v = tables[kFactorTable];
  v.id = kFactorTable;
  v.name = "v";
  v.dim = RowDim();
  v.optimizer = options_.optimizer;
  v.init.kind = InitKind::kNormal;
  v.init.scale = options_.init_stddev;

  tables[kBiasTable] = InterceptTable(kBiasTable, options_.optimizer);
  return tables;
}

size_t FfmModel::MaxFeatures(const Batch& batch, size_t begin, size_t end) {
  size_t longest = 0;
  for (size_t e = begin; e < end; ++e) {
    longest = std::max<size_t>(longest, batch.offsets[e + 1] - batch.offsets[e]);
  }
  return longest;
}

size_t FfmModel::Gather(const Batch& batch, size_t e, const PulledRows& rows, Term* terms) const {
  size_t n = 0;
  double squares = 0;
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    const int32_t row = rows.row_of_feature[f];
    // row < 0: the field is >= num_fields (TableOfField said -1), so nothing was pulled.
    if (row < 0) continue;
    const float x = batch.values[f];
    terms[n++] = Term{row, batch.fields[f], x};
    squares += static_cast<double>(x) * x;
  }
  // Instance normalisation: x / |x| over the used features (an all-zero example stays zero).
  if (options_.instance_norm && squares > 0) {
    const float scale = static_cast<float>(1.0 / std::sqrt(squares));
    for (size_t a = 0; a < n; ++a) terms[a].x *= scale;
  }
  return n;
}

double FfmModel::Logit(const Term* terms, size_t n, const PulledRows& rows, double* penalty) const {
  const int k = static_cast<int>(options_.dim);
  const int width = static_cast<int>(RowDim());
  double z = rows.rows[kBiasTable][0];
  double pen = 0;
  for (size_t a = 0; a < n; ++a) {
    const float* va = rows.Row(kFactorTable, terms[a].row, width);
    z += static_cast<double>(va[kLinearColumn]) * terms[a].x;
    pen += va[kLinearColumn] * va[kLinearColumn];
    const float* va_factors = va + kFirstFactorColumn;
    for (size_t b = a + 1; b < n; ++b) {
      const float* vb_factors = rows.Row(kFactorTable, terms[b].row, width) + kFirstFactorColumn;
      const float* p = va_factors + terms[b].field * k;  // a's vector for b's field
      const float* q = vb_factors + terms[a].field * k;  // b's vector for a's field
      float dot = 0, sq = 0;
      for (int j = 0; j < k; ++j) {
        dot += p[j] * q[j];
        sq += p[j] * p[j] + q[j] * q[j];
      }
      z += static_cast<double>(dot) * terms[a].x * terms[b].x;
      pen += sq;
    }
  }
  if (penalty) *penalty += 0.5 * options_.reg * pen;
  return z;
}

LossSum FfmModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                  const PulledRows& rows, Gradients* grads) const {
  const int k = static_cast<int>(options_.dim);
  const int width = static_cast<int>(RowDim());
  std::vector<Term> terms(MaxFeatures(batch, begin, end));
  double bias_grad = 0;
  LossSum out;
  for (size_t e = begin; e < end; ++e) {
    const size_t n = Gather(batch, e, rows, terms.data());
    double penalty = 0;
    const double z = Logit(terms.data(), n, rows, &penalty);
    const float reg = options_.reg;
    double dz;
    out.loss += LogLossOfLogit(z, ClickTarget(batch.labels[e]), &dz) + penalty;
    bias_grad += dz;
    const float g = static_cast<float>(dz);
    for (size_t a = 0; a < n; ++a) {
      const float* va = rows.Row(kFactorTable, terms[a].row, width);
      const float* va_factors = va + kFirstFactorColumn;
      float* ga = grads->Row(kFactorTable, terms[a].row, width);
      ga[kLinearColumn] += g * terms[a].x + reg * va[kLinearColumn];
      float* ga_factors = ga + kFirstFactorColumn;
      for (size_t b = a + 1; b < n; ++b) {
        const float* vb_factors = rows.Row(kFactorTable, terms[b].row, width) + kFirstFactorColumn;
        float* gb_factors = grads->Row(kFactorTable, terms[b].row, width) + kFirstFactorColumn;
        const float* p = va_factors + terms[b].field * k;
        const float* q = vb_factors + terms[a].field * k;
        float* gp = ga_factors + terms[b].field * k;
        float* gq = gb_factors + terms[a].field * k;
        // d z / d p = q x_a x_b and d z / d q = p x_a x_b. When a and b are the same row and
        // field, p and q are one vector and the two additions together give 2 p x_a x_b.
        const float s = g * terms[a].x * terms[b].x;
        for (int j = 0; j < k; ++j) {
          const float pj = p[j], qj = q[j];
          gp[j] += s * qj + reg * pj;
          gq[j] += s * pj + reg * qj;
        }
      }
    }
  }
  grads->rows[kBiasTable][0] += static_cast<float>(bias_grad);
  out.examples = end - begin;
  return out;
}

void FfmModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                       float* preds) const {
  std::vector<Term> terms(MaxFeatures(batch, begin, end));
  for (size_t e = begin; e < end; ++e) {
    const size_t n = Gather(batch, e, rows, terms.data());
    preds[e] = ClickProbability(Logit(terms.data(), n, rows, nullptr));
  }
}

ModelDescription FfmModel::Describe() const {
  ModelDescription d;
  d.task = ModelTask::kClassification;
  d.prediction = "sigmoid(bias + sum_i w_i x_i + sum_{i<j} dot(v_{i,field(j)}, v_{j,field(i)}) x_i x_j); "
                 "features of fields >= num_fields are ignored";
  d.tables = {{"v", "w (linear weight) then num_fields blocks of " + std::to_string(options_.dim) +
                        ": block g (columns 1+g*dim ..) is the vector used against features of field g"},
              {"bias", "the intercept"}};
  d.fields = {{"0.." + std::to_string(options_.num_fields - 1), "", "v"}};
  d.embedding = EmbeddingColumns{"v", 1, RowDim()};
  d.attributes = {{"dim", {double(options_.dim)}}, {"num_fields", {double(options_.num_fields)}}};
  d.factorization = FactorizationKind::kFieldAwareFm;
  d.dim = options_.dim;
  d.num_fields = options_.num_fields;
  d.init_stddev = options_.init_stddev;
  d.reg = options_.reg;
  d.instance_norm = options_.instance_norm;
  return d;
}

}  // namespace embark
