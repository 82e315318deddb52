#include "models/implicit_mf.h"

#include <cmath>

#include "core/hash.h"
#include "models/interaction_fields.h"

namespace embark {

Status ImplicitMfModel::Validate(const ImplicitMfOptions& o) {
  if (o.dim == 0) return Status::InvalidArgument("imf: dim must be at least 1");
  if (o.negatives == 0 || o.negatives > kMaxNegatives) {
    return Status::InvalidArgument("imf: negatives " + std::to_string(o.negatives) + " outside [1, " +
                                   std::to_string(kMaxNegatives) + "]");
  }
  if (!(o.init_stddev >= 0)) return Status::InvalidArgument("imf: init_stddev must be >= 0");
  if (!(o.reg >= 0) || !(o.bias_reg >= 0)) return Status::InvalidArgument("imf: reg and bias_reg must be >= 0");
  return Status::OK();
}

size_t ImplicitMfModel::NegativeRow(size_t position, uint32_t s, int attempt, size_t item_rows) {
  const uint64_t h = HashCombine(HashCombine(position, s), static_cast<uint64_t>(attempt));
  return static_cast<size_t>((static_cast<unsigned __int128>(h) * item_rows) >> 64);
}

std::vector<TableConfig> ImplicitMfModel::Tables() const {
  std::vector<TableConfig> tables(2);
  tables[kUserTable].name = "user";
  tables[kUserTable].dim = options_.dim;
  tables[kItemTable].name = "item";
  tables[kItemTable].dim = options_.dim + 1;
  for (size_t t = 0; t < tables.size(); ++t) {
    tables[t].id = static_cast<uint32_t>(t);
    tables[t].optimizer = options_.optimizer;
    tables[t].optimizer.l1 = 0;
    tables[t].optimizer.l2 = 0;
    tables[t].init.kind = InitKind::kNormal;
    tables[t].init.scale = options_.init_stddev;
  }
  return tables;
}

int ImplicitMfModel::TableOfField(uint16_t field) const {
  if (field == kUserIdField) return kUserTable;
  if (field == kItemIdField) return kItemTable;
  return -1;
}

void ImplicitMfModel::RowsOfExample(const Batch& batch, size_t e, const PulledRows& rows,
                                    int32_t* user, int32_t* item) const {
  *user = -1;
  *item = -1;
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    if (batch.fields[f] == kUserIdField && *user < 0) *user = rows.row_of_feature[f];
    if (batch.fields[f] == kItemIdField && *item < 0) *item = rows.row_of_feature[f];
  }
}

LossSum ImplicitMfModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                         const PulledRows& rows, Gradients* grads) const {
  LossSum out;
  out.examples = end - begin;
  if (begin >= end) return out;

  const int k = static_cast<int>(options_.dim);
  const int item_width = k + 1;
  const float reg = options_.reg, bias_reg = options_.bias_reg;
  std::vector<int32_t> negatives;
  const size_t n_items = rows.rows[kItemTable].size() / (options_.dim + 1);
  negatives.reserve(options_.negatives);
  double loss = 0;
  for (size_t e = begin; e < end; ++e) {
    int32_t u, i;
    RowsOfExample(batch, e, rows, &u, &i);
    if (u < 0 || i < 0) continue;
    negatives.clear();
    for (uint32_t s = 0; s < options_.negatives; ++s) {
      for (int a = 0; a < kNegativeAttempts; ++a) {
        const int32_t j = static_cast<int32_t>(NegativeRow(e, s, a, n_items));
        if (j == i) continue;
        negatives.push_back(j);
        break;
      }
    }
    const float* p = rows.Row(kUserTable, u, k);
    const float* q = rows.Row(kItemTable, i, item_width);
    float* gp = grads->Row(kUserTable, u, k);
    float* gq = grads->Row(kItemTable, i, item_width);
    // Per-use L2 of the positive pair.
    double norm = 0;
    for (int c = 0; c < k; ++c) {
      norm += double{p[c]} * p[c] + double{q[c]} * q[c];
      gp[c] += reg * p[c];
      gq[c] += reg * q[c];
    }
    loss += 0.5 * reg * norm + 0.5 * bias_reg * double{q[k]} * q[k];
    gq[k] += bias_reg * q[k];
    if (negatives.empty()) continue;
    const float weight = 1.0f / static_cast<float>(negatives.size());
    for (const int32_t j : negatives) {
      const float* qj = rows.Row(kItemTable, j, item_width);
      float* gqj = grads->Row(kItemTable, j, item_width);
      double x = double{q[k]} - qj[k];
      double neg_norm = 0;
      for (int c = 0; c < k; ++c) {
        x += double{p[c]} * (q[c] - qj[c]);
        neg_norm += double{qj[c]} * qj[c];
      }
      // -log sigmoid(x) = log(1 + exp(-x)), computed without overflow; d/dx = -sigmoid(-x).
      loss += weight * (x > 0 ? std::log1p(std::exp(-x)) : -x + std::log1p(std::exp(x)));
      loss += 0.5 * reg * neg_norm + 0.5 * bias_reg * double{qj[k]} * qj[k];
      const float g = static_cast<float>(-weight / (1.0 + std::exp(x)));
      for (int c = 0; c < k; ++c) {
        gp[c] += g * (q[c] - qj[c]);
        gq[c] += g * p[c];
        gqj[c] += -g * p[c] + reg * qj[c];
      }
      gq[k] += g;
      gqj[k] += -g + bias_reg * qj[k];
    }
  }
  out.loss = loss;
  return out;
}

void ImplicitMfModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                              float* preds) const {
  const int k = static_cast<int>(options_.dim);
  for (size_t e = begin; e < end; ++e) {
    int32_t u, i;
    RowsOfExample(batch, e, rows, &u, &i);
    double score = 0;
    if (i >= 0) {
      const float* q = rows.Row(kItemTable, i, k + 1);
      score = q[k];
      if (u >= 0) {
        const float* p = rows.Row(kUserTable, u, k);
        for (int c = 0; c < k; ++c) score += double{p[c]} * q[c];
      }
    }
    preds[e] = static_cast<float>(1.0 / (1.0 + std::exp(-score)));
  }
}

void ImplicitMfModel::UserVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                                  float* out) const {
  const int k = static_cast<int>(options_.dim);
  for (size_t e = begin; e < end; ++e) {
    int32_t u, i;
    RowsOfExample(batch, e, rows, &u, &i);
    float* v = out + (e - begin) * (k + 1);
    for (int c = 0; c < k; ++c) v[c] = u >= 0 ? rows.Row(kUserTable, u, k)[c] : 0.0f;
    v[k] = 1.0f;  // multiplies the item bias
  }
}

void ImplicitMfModel::ItemVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                                  float* out) const {
  const int k = static_cast<int>(options_.dim);
  for (size_t e = begin; e < end; ++e) {
    int32_t u, i;
    RowsOfExample(batch, e, rows, &u, &i);
    float* v = out + (e - begin) * (k + 1);
    for (int c = 0; c <= k; ++c) v[c] = i >= 0 ? rows.Row(kItemTable, i, k + 1)[c] : 0.0f;
  }
}

}  // namespace embark
