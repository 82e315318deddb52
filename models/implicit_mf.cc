#include "models/implicit_mf.h"

#include <algorithm>
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
  if (options_.side_features) {
    if (IsUserField(field)) return kUserTable;
    // Shared fields live with the item side's rows, so a token is one row on both sides.
    if (IsItemField(field) || IsSharedField(field)) return kItemTable;
    return -1;
  }
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

float ImplicitMfModel::Scale(int count) { return 1.0f / std::sqrt(static_cast<float>(count)); }

int ImplicitMfModel::SideVector(int side, const Batch& batch, size_t e, const PulledRows& rows,
                                float* out) const {
  const int k = static_cast<int>(options_.dim);
  const int width = side == kUserTable ? k : k + 1;
  std::fill(out, out + width, 0.0f);
  int count = 0;
  const uint32_t item_id_position = options_.side_features ? ItemIdPosition(batch, e) : 0;
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    if (!UsesFeature(side, batch, f, item_id_position) || rows.row_of_feature[f] < 0) continue;
    const int table = TableOfField(batch.fields[f]);
    const int table_width = table == kUserTable ? k : k + 1;
    // A user-side row of the item table (a shared field) contributes its K factors only.
    const float* v = rows.Row(table, rows.row_of_feature[f], table_width);
    for (int c = 0; c < width; ++c) out[c] += v[c];
    ++count;
  }
  if (count > 1) {
    const float inv = Scale(count);
    for (int c = 0; c < width; ++c) out[c] *= inv;
  }
  return count;
}

bool ImplicitMfModel::UsesFeature(int side, const Batch& batch, uint32_t f, uint32_t item_id_position) const {
  const uint16_t field = batch.fields[f];
  if (!options_.side_features) return field == (side == kUserTable ? kUserIdField : kItemIdField);
  return SideOf(field, f, item_id_position) == (side == kUserTable ? InteractionSide::kUser : InteractionSide::kItem);
}

double ImplicitMfModel::SideBackward(int side, const Batch& batch, size_t e, const PulledRows& rows,
                                     const float* grad, int count, Gradients* grads) const {
  const int k = static_cast<int>(options_.dim);
  const float inv = count > 1 ? Scale(count) : 1.0f;
  const uint32_t item_id_position = options_.side_features ? ItemIdPosition(batch, e) : 0;
  double penalty = 0;
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
    if (!UsesFeature(side, batch, f, item_id_position) || rows.row_of_feature[f] < 0) continue;
    const int table = TableOfField(batch.fields[f]);
    const int table_width = table == kUserTable ? k : k + 1;
    const float* v = rows.Row(table, rows.row_of_feature[f], table_width);
    float* g = grads->Row(table, rows.row_of_feature[f], table_width);
    for (int c = 0; c < k; ++c) {
      g[c] += inv * grad[c] + options_.reg * v[c];
      penalty += 0.5 * options_.reg * double{v[c]} * v[c];
    }
    if (side == kItemTable) {
      g[k] += inv * grad[k] + options_.bias_reg * v[k];
      penalty += 0.5 * options_.bias_reg * double{v[k]} * v[k];
    }
  }
  return penalty;
}

LossSum ImplicitMfModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                         const PulledRows& rows, Gradients* grads) const {
  LossSum out;
  out.examples = end - begin;
  if (begin >= end) return out;

  const int k = static_cast<int>(options_.dim);
  const int item_width = k + 1;
  // The batch's distinct items (by item-id row, in row order) and an example carrying each;
  // without side features every item row is an item-id row, so this is every pulled row.
  const size_t n_rows = rows.rows[kItemTable].size() / item_width;
  std::vector<int32_t> example_of_row(n_rows, -1);
  for (size_t e = 0; e < batch.size(); ++e) {
    int32_t u, i;
    RowsOfExample(batch, e, rows, &u, &i);
    if (i >= 0 && example_of_row[i] < 0) example_of_row[i] = static_cast<int32_t>(e);
  }
  std::vector<int32_t> distinct;
  distinct.reserve(n_rows);
  for (size_t r = 0; r < n_rows; ++r)
    if (example_of_row[r] >= 0) distinct.push_back(static_cast<int32_t>(r));

  std::vector<int32_t> negatives;
  negatives.reserve(options_.negatives);
  // p, q, q_j and their gradients; allocated once per call.
  std::vector<float> p(k), q(item_width), qj(item_width), gp(k), gq(item_width), gqj(item_width);
  double loss = 0;
  for (size_t e = begin; e < end; ++e) {
    int32_t u, i;
    RowsOfExample(batch, e, rows, &u, &i);
    if (u < 0 || i < 0) continue;
    negatives.clear();
    for (uint32_t s = 0; s < options_.negatives; ++s) {
      for (int a = 0; a < kNegativeAttempts; ++a) {
        const int32_t j = distinct[NegativeRow(e, s, a, distinct.size())];
        if (j == i) continue;
        negatives.push_back(j);
        break;
      }
    }
    const int user_count = SideVector(kUserTable, batch, e, rows, p.data());
    const int item_count = SideVector(kItemTable, batch, e, rows, q.data());
    std::fill(gp.begin(), gp.end(), 0.0f);
    std::fill(gq.begin(), gq.end(), 0.0f);
    const float weight = negatives.empty() ? 0.0f : 1.0f / static_cast<float>(negatives.size());
    for (const int32_t j : negatives) {
      const size_t ej = static_cast<size_t>(example_of_row[j]);
      const int neg_count = SideVector(kItemTable, batch, ej, rows, qj.data());
      double x = double{q[k]} - qj[k];
      for (int c = 0; c < k; ++c) x += double{p[c]} * (q[c] - qj[c]);
      // -log sigmoid(x) = log(1 + exp(-x)), computed without overflow; d/dx = -sigmoid(-x).
      loss += weight * (x > 0 ? std::log1p(std::exp(-x)) : -x + std::log1p(std::exp(x)));
      const float g = static_cast<float>(-weight / (1.0 + std::exp(x)));
      for (int c = 0; c < k; ++c) {
        gp[c] += g * (q[c] - qj[c]);
        gq[c] += g * p[c];
        gqj[c] = -g * p[c];
      }
      gq[k] += g;
      gqj[k] = -g;
      // Per-use L2 of the negative's rows.
      loss += SideBackward(kItemTable, batch, ej, rows, gqj.data(), neg_count, grads);
    }
    // Per-use L2 of the positive pair's rows.
    loss += SideBackward(kUserTable, batch, e, rows, gp.data(), user_count, grads);
    loss += SideBackward(kItemTable, batch, e, rows, gq.data(), item_count, grads);
  }
  out.loss = loss;
  return out;
}

void ImplicitMfModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                              float* preds) const {
  const int k = static_cast<int>(options_.dim);
  std::vector<float> p(k), q(k + 1);
  for (size_t e = begin; e < end; ++e) {
    SideVector(kUserTable, batch, e, rows, p.data());
    SideVector(kItemTable, batch, e, rows, q.data());
    double score = q[k];
    for (int c = 0; c < k; ++c) score += double{p[c]} * q[c];
    preds[e] = static_cast<float>(1.0 / (1.0 + std::exp(-score)));
  }
}

void ImplicitMfModel::UserVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                                  float* out) const {
  const int k = static_cast<int>(options_.dim);
  for (size_t e = begin; e < end; ++e) {
    float* v = out + (e - begin) * (k + 1);
    SideVector(kUserTable, batch, e, rows, v);
    v[k] = 1.0f;  // multiplies the item bias
  }
}

void ImplicitMfModel::ItemVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                                  float* out) const {
  const int k = static_cast<int>(options_.dim);
  for (size_t e = begin; e < end; ++e) SideVector(kItemTable, batch, e, rows, out + (e - begin) * (k + 1));
}

ModelDescription ImplicitMfModel::Describe() const {
  const std::string k = std::to_string(options_.dim);
  ModelDescription d;
  d.task = ModelTask::kRanking;
  d.prediction = options_.side_features
                     ? "score(u, i) = dot(p_u, q_i) + b_i, p_u = sum of the user-side rows / sqrt(count), "
                       "[q_i, b_i] = sum of the item-side rows / sqrt(count); items ranked by score; "
                       "/predict returns sigmoid(score); see models/implicit_mf.h"
                     : "score(u, i) = dot(p_u, q_i) + b_i; items ranked by score; /predict returns sigmoid(score)";
  d.tables = {{"user", "p_u[0.." + k + ")"}, {"item", "q_i[0.." + k + ") then the item bias b_i (column " + k + ")"}};
  if (options_.side_features) {
    d.fields = {{"0", "user", "user"}, {"2..31", "user side", "user"}, {"1", "item", "item"},
                {"32..63", "item side", "item"}, {"64..95", "shared vocabulary", "item"}};
  } else {
    d.fields = {{"0", "user", "user"}, {"1", "item", "item"}};
  }
  d.embedding = EmbeddingColumns{"user", 0, options_.dim};
  d.attributes = {{"dim", {double(options_.dim)}}};
  return d;
}

}  // namespace embark
