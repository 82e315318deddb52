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

namespace {

// The pair sums of one example: z's pairwise part, sum_{a<b} <p, q> x_a x_b, and the factor
// penalty sum_{a<b} |p|^2 + |q|^2, where p is a's vector for b's field and q b's for a's.
// They are summed lane by lane (K lanes) and reduced once per example: reducing two sums per
// pair was a third of an example's time. K > 0 is the dim known at compile time (a K = 8 pair
// is one AVX register); K = 0 reads it from `dim`.
template <int K>
void PairSums(const FfmModel::Use* uses, size_t n, int dim, double* pairs, double* penalty) {
  const int k = K > 0 ? K : dim;
  constexpr int kLanes = K > 0 ? K : 8;
  float dot[kLanes] = {}, sq[kLanes] = {};
  for (size_t a = 0; a < n; ++a) {
    const float* va = uses[a].v + FfmModel::kFirstFactorColumn;
    for (size_t b = a + 1; b < n; ++b) {
      const float* p = va + uses[b].field * k;
      const float* q = uses[b].v + FfmModel::kFirstFactorColumn + uses[a].field * k;
      const float xx = uses[a].x * uses[b].x;
      for (int c = 0; c < k; ++c) {
        dot[c % kLanes] += p[c] * q[c] * xx;
        sq[c % kLanes] += p[c] * p[c] + q[c] * q[c];
      }
    }
  }
  double d = 0, s = 0;
  for (int c = 0; c < kLanes; ++c) {
    d += dot[c];
    s += sq[c];
  }
  *pairs = d;
  *penalty = s;
}

// Adds the pairs' gradients: d z/d p = q x_a x_b (times dz = g) plus reg p, and the same for
// q. gp is written before gq (two loops from copies of p and q) so that the result is right
// when they are one buffer: in a batch, a key twice in one field gives a pair of a row with
// itself, where p and q are one vector and the two additions give 2 p x_a x_b.
template <int K>
void PairGradients(const FfmModel::Use* uses, size_t n, int dim, float g, float reg) {
  const int k = K > 0 ? K : dim;
  constexpr int kMax = K > 0 ? K : 1;
  float pc[kMax], qc[kMax];
  thread_local std::vector<float> copies;  // K = 0: the copies of p and q
  if (K == 0 && copies.size() < 2 * size_t(k)) copies.resize(2 * size_t(k));
  float* pl = K > 0 ? pc : copies.data();
  float* ql = K > 0 ? qc : copies.data() + k;
  for (size_t a = 0; a < n; ++a) {
    const float* va = uses[a].v + FfmModel::kFirstFactorColumn;
    float* ga = uses[a].g + FfmModel::kFirstFactorColumn;
    for (size_t b = a + 1; b < n; ++b) {
      const size_t p_at = uses[b].field * k, q_at = uses[a].field * k;
      const float* q = uses[b].v + FfmModel::kFirstFactorColumn + q_at;
      for (int c = 0; c < k; ++c) {
        pl[c] = va[p_at + c];
        ql[c] = q[c];
      }
      const float s = g * uses[a].x * uses[b].x;
      float* gp = ga + p_at;
      for (int c = 0; c < k; ++c) gp[c] += s * ql[c] + reg * pl[c];
      float* gq = uses[b].g + FfmModel::kFirstFactorColumn + q_at;
      for (int c = 0; c < k; ++c) gq[c] += s * pl[c] + reg * ql[c];
    }
  }
}

}  // namespace

size_t FfmModel::Gather(const Batch& batch, size_t e, const PulledRows& rows, Gradients* grads, Use* uses) const {
  const int width = static_cast<int>(RowDim());
  size_t n = 0;
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    const int32_t row = rows.row_of_feature[f];
    // row < 0: the field is >= num_fields (TableOfField said -1), so nothing was pulled.
    if (row < 0) continue;
    uses[n++] = Use{rows.Row(kFactorTable, row, width), grads ? grads->Row(kFactorTable, row, width) : nullptr,
                    batch.fields[f], batch.values[f]};
  }
  Normalise(uses, n);
  return n;
}

void FfmModel::Normalise(Use* uses, size_t n) const {
  if (!options_.instance_norm) return;
  double squares = 0;
  for (size_t a = 0; a < n; ++a) squares += static_cast<double>(uses[a].x) * uses[a].x;
  // x / |x| over the used features (an all-zero example stays zero).
  if (squares <= 0) return;
  const float scale = static_cast<float>(1.0 / std::sqrt(squares));
  for (size_t a = 0; a < n; ++a) uses[a].x *= scale;
}

double FfmModel::Logit(const Use* uses, size_t n, float bias, double* penalty) const {
  double z = bias, linear_pen = 0;
  for (size_t a = 0; a < n; ++a) {
    const float w = uses[a].v[kLinearColumn];
    z += static_cast<double>(w) * uses[a].x;
    linear_pen += static_cast<double>(w) * w;
  }
  double pairs = 0, factor_pen = 0;
  switch (options_.dim) {
    case 4: PairSums<4>(uses, n, 4, &pairs, &factor_pen); break;
    case 8: PairSums<8>(uses, n, 8, &pairs, &factor_pen); break;
    case 16: PairSums<16>(uses, n, 16, &pairs, &factor_pen); break;
    default: PairSums<0>(uses, n, static_cast<int>(options_.dim), &pairs, &factor_pen);
  }
  if (penalty) *penalty += 0.5 * options_.reg * (linear_pen + factor_pen);
  return z + pairs;
}

void FfmModel::Backward(const Use* uses, size_t n, float g) const {
  const float reg = options_.reg;
  for (size_t a = 0; a < n; ++a) uses[a].g[kLinearColumn] += g * uses[a].x + reg * uses[a].v[kLinearColumn];
  switch (options_.dim) {
    case 4: PairGradients<4>(uses, n, 4, g, reg); break;
    case 8: PairGradients<8>(uses, n, 8, g, reg); break;
    case 16: PairGradients<16>(uses, n, 16, g, reg); break;
    default: PairGradients<0>(uses, n, static_cast<int>(options_.dim), g, reg);
  }
}

LossSum FfmModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                  const PulledRows& rows, Gradients* grads) const {
  std::vector<Use> uses(MaxFeatures(batch, begin, end));
  double bias_grad = 0;
  LossSum out;
  for (size_t e = begin; e < end; ++e) {
    const size_t n = Gather(batch, e, rows, grads, uses.data());
    double penalty = 0;
    const double z = Logit(uses.data(), n, rows.rows[kBiasTable][0], &penalty);
    double dz;
    out.loss += LogLossOfLogit(z, ClickTarget(batch.labels[e]), &dz) + penalty;
    bias_grad += dz;
    Backward(uses.data(), n, static_cast<float>(dz));
  }
  grads->rows[kBiasTable][0] += static_cast<float>(bias_grad);
  out.examples = end - begin;
  return out;
}

void FfmModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                       float* preds) const {
  std::vector<Use> uses(MaxFeatures(batch, begin, end));
  for (size_t e = begin; e < end; ++e) {
    const size_t n = Gather(batch, e, rows, nullptr, uses.data());
    preds[e] = ClickProbability(Logit(uses.data(), n, rows.rows[kBiasTable][0], nullptr));
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
