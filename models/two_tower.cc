#include "models/two_tower.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "models/dense_layer.h"
#include "models/interaction_fields.h"

namespace embark {
namespace {

constexpr float kMinNorm = 1e-12f;  // cosine: |z| below this is treated as this

// Whether feature occurrence f of an example whose item id is at item_id_position feeds `tower`
// (shared fields 64..95 by their position, models/interaction_fields.h).
bool InTower(int tower, const Batch& batch, uint32_t f, uint32_t item_id_position) {
  const InteractionSide side = SideOf(batch.fields[f], f, item_id_position);
  return side == (tower == TwoTowerModel::kUserTower ? InteractionSide::kUser : InteractionSide::kItem);
}

// The row of example e's item id (field 1), -1 if none: the identity used for "same item".
int32_t ItemIdRow(const Batch& batch, size_t e, const PulledRows& rows) {
  for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f)
    if (batch.fields[f] == kItemIdField && rows.row_of_feature[f] >= 0) return rows.row_of_feature[f];
  return -1;
}

// Writes each column of `vectors`, followed (with_extra) by extra(c): the ranking vectors with
// item_bias are (u, 1) and (i, b_i), whose dot product is the score times the temperature.
template <typename Extra>
void CopyVectors(const Eigen::MatrixXf& vectors, bool with_extra, Extra extra, float* out) {
  const Eigen::Index d = vectors.rows();
  for (Eigen::Index c = 0; c < vectors.cols(); ++c) {
    out = std::copy(vectors.col(c).data(), vectors.col(c).data() + d, out);
    if (with_extra) *out++ = extra(static_cast<size_t>(c));
  }
}

}  // namespace

Status ParseTwoTowerScore(const std::string& name, TwoTowerScore* out) {
  if (name == "dot") {
    *out = TwoTowerScore::kDot;
  } else if (name == "cosine") {
    *out = TwoTowerScore::kCosine;
  } else {
    return Status::InvalidArgument("two_tower: score must be dot or cosine, got '" + name + "'");
  }
  return Status::OK();
}

Status ParseTwoTowerTower(const std::string& name, TwoTowerTower* out) {
  if (name == "mlp") {
    *out = TwoTowerTower::kMlp;
  } else if (name == "identity") {
    *out = TwoTowerTower::kIdentity;
  } else if (name == "residual") {
    *out = TwoTowerTower::kResidual;
  } else {
    return Status::InvalidArgument("two_tower: tower must be mlp, identity or residual, got '" + name + "'");
  }
  return Status::OK();
}

const char* TwoTowerTowerName(TwoTowerTower tower) {
  switch (tower) {
    case TwoTowerTower::kIdentity: return "identity";
    case TwoTowerTower::kResidual: return "residual";
    case TwoTowerTower::kMlp: break;
  }
  return "mlp";
}

struct TwoTowerModel::TowerDelta {
  Eigen::MatrixXf m;  // one column per example of the range
};

// Column c is example begin + c.
struct TwoTowerModel::TowerWork {
  size_t begin = 0;
  std::vector<float> inv_count;        // 1 / features of the tower (0 when none)
  std::vector<Eigen::MatrixXf> acts;   // acts[0] = h_0 (K x n), acts[l] = h_l after ReLU
  Eigen::MatrixXf z;                   // d x n, before normalisation
  Eigen::VectorXf norm;                // cosine: |z| per column (at least kMinNorm)
  Eigen::MatrixXf vectors;             // d x n, the tower's output vectors
};

TwoTowerModel::TwoTowerModel(const TwoTowerOptions& options) : options_(options) {
  uint32_t in = options_.dim;
  for (uint32_t width : options_.hidden) {
    layer_in_.push_back(in);
    layer_out_.push_back(width);
    bias_offset_.push_back(bias_size_);
    bias_size_ += width;
    in = width;
  }
  layer_in_.push_back(in);
  layer_out_.push_back(options_.out_dim);
  bias_offset_.push_back(bias_size_);
  bias_size_ += options_.out_dim;
}

Status TwoTowerModel::Validate(const TwoTowerOptions& o) {
  if (o.dim == 0 || o.dim > kMaxWidth) return Status::InvalidArgument("two_tower: dim outside [1, 4096]");
  if (o.out_dim == 0 || o.out_dim > kMaxWidth) return Status::InvalidArgument("two_tower: out_dim outside [1, 4096]");
  for (size_t l = 0; l < o.hidden.size(); ++l) {
    if (o.hidden[l] == 0 || o.hidden[l] > kMaxWidth) {
      return Status::InvalidArgument("two_tower: hidden layer " + std::to_string(l) + " width " +
                                     std::to_string(o.hidden[l]) + " outside [1, 4096]");
    }
  }
  if (!(o.temperature > 0) || !std::isfinite(o.temperature)) {
    return Status::InvalidArgument("two_tower: temperature must be a positive number");
  }
  if (!(o.init_stddev >= 0)) return Status::InvalidArgument("two_tower: init_stddev must be >= 0");
  if (!(o.reg >= 0)) return Status::InvalidArgument("two_tower: reg must be >= 0");
  if (!(o.mlp_l2 >= 0)) return Status::InvalidArgument("two_tower: mlp_l2 must be >= 0");
  if (!(o.mlp_lr_scale > 0)) return Status::InvalidArgument("two_tower: mlp_lr_scale must be > 0");
  if (o.tower != TwoTowerTower::kMlp && o.out_dim != o.dim) {
    return Status::InvalidArgument(std::string("two_tower: tower ") + TwoTowerTowerName(o.tower) +
                                   " adds the pooled embedding to the output, so out_dim must equal dim");
  }
  return Status::OK();
}

int TwoTowerModel::LayerTable(int tower, size_t l) const {
  return 2 + tower * static_cast<int>(layer_in_.size() + 1) + static_cast<int>(l);
}

int TwoTowerModel::BiasTable(int tower) const {
  return 2 + tower * static_cast<int>(layer_in_.size() + 1) + static_cast<int>(layer_in_.size());
}

std::vector<TableConfig> TwoTowerModel::Tables() const {
  const size_t layers = layer_in_.size();
  // Identity towers have no weights: only the two embedding tables.
  std::vector<TableConfig> tables(HasWeights() ? 2 + 2 * (layers + 1) : 2);
  const char* tower_name[2] = {"user", "item"};
  for (int t = 0; t < 2; ++t) {
    TableConfig& emb = tables[t == kUserTower ? kUserEmbeddingTable : kItemEmbeddingTable];
    emb.name = std::string(tower_name[t]) + "_emb";
    emb.dim = static_cast<uint32_t>(RowWidth(t == kUserTower ? kUserEmbeddingTable : kItemEmbeddingTable));
    emb.optimizer = options_.optimizer;
    emb.init.kind = InitKind::kNormal;
    emb.init.scale = options_.init_stddev;
    if (!HasWeights()) continue;
    for (size_t l = 0; l < layers; ++l) {
      TableConfig& w = tables[LayerTable(t, l)];
      w.name = std::string(tower_name[t]) + "_mlp" + std::to_string(l);
      w.dense = true;
      w.dense_size = uint64_t{layer_in_[l]} * layer_out_[l];
      w.optimizer = options_.optimizer;
      w.optimizer.lr = options_.optimizer.lr * options_.mlp_lr_scale;
      w.optimizer.l2 = options_.mlp_l2;
      w.init.kind = InitKind::kNormal;
      w.init.scale = l + 1 == layers ? std::sqrt(1.0f / layer_in_[l]) : std::sqrt(2.0f / layer_in_[l]);
    }
    TableConfig& bias = tables[BiasTable(t)];
    bias.name = std::string(tower_name[t]) + "_bias";
    bias.dense = true;
    bias.dense_size = bias_size_;
    bias.optimizer = options_.optimizer;
    bias.optimizer.lr = options_.optimizer.lr * options_.mlp_lr_scale;
    bias.optimizer.l1 = 0;
    bias.optimizer.l2 = 0;
    bias.init.kind = InitKind::kZero;
  }
  for (size_t t = 0; t < tables.size(); ++t) {
    tables[t].id = static_cast<uint32_t>(t);
    if (tables[t].dense) tables[t].dim = 1;
  }
  return tables;
}

int TwoTowerModel::RowWidth(int table) const {
  return static_cast<int>(options_.dim) + (options_.item_bias && table == kItemEmbeddingTable ? 1 : 0);
}

float TwoTowerModel::ItemBias(const Batch& batch, size_t e, const PulledRows& rows) const {
  if (!options_.item_bias) return 0.0f;
  const int32_t row = ItemIdRow(batch, e, rows);
  if (row < 0) return 0.0f;
  return rows.Row(kItemEmbeddingTable, row, RowWidth(kItemEmbeddingTable))[options_.dim];
}

int TwoTowerModel::TableOfField(uint16_t field) const {
  if (IsUserField(field)) return kUserEmbeddingTable;
  // Shared fields live with the item side's rows, so a token is one row in both towers.
  if (IsItemField(field) || IsSharedField(field)) return kItemEmbeddingTable;
  return -1;
}

void TwoTowerModel::TowerForward(int tower, const Batch& batch, size_t begin, size_t end,
                                 const PulledRows& rows, TowerWork* work) const {
  const int k = static_cast<int>(options_.dim);
  const Eigen::Index n = static_cast<Eigen::Index>(end - begin);
  const size_t layers = layer_in_.size();
  work->begin = begin;
  work->inv_count.assign(n, 0.0f);
  work->acts.resize(layers);
  work->acts[0].setZero(k, n);
  for (Eigen::Index c = 0; c < n; ++c) {
    const size_t e = begin + c;
    float* input = work->acts[0].col(c).data();
    int count = 0;
    const uint32_t item_id_position = ItemIdPosition(batch, e);
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      if (!InTower(tower, batch, f, item_id_position) || rows.row_of_feature[f] < 0) continue;
      const float x = batch.values[f];
      const int table = TableOfField(batch.fields[f]);
      const float* v = rows.Row(table, rows.row_of_feature[f], RowWidth(table));
      for (int j = 0; j < k; ++j) input[j] += x * v[j];
      ++count;
    }
    if (count > 0) {
      // mlp: the mean; identity/residual: sum / sqrt(count) as imf, so a long history is not
      // shrunk towards zero while the item side (often a few words) stays comparable.
      work->inv_count[c] = options_.tower == TwoTowerTower::kMlp
                               ? 1.0f / static_cast<float>(count)
                               : 1.0f / std::sqrt(static_cast<float>(count));
      for (int j = 0; j < k; ++j) input[j] *= work->inv_count[c];
    }
  }
  if (options_.tower == TwoTowerTower::kIdentity) {
    work->z = work->acts[0];
  } else {
    MlpForward(tower, rows, work);
  }
  if (options_.score == TwoTowerScore::kCosine) {
    work->norm = work->z.colwise().norm().transpose().cwiseMax(kMinNorm);
    work->vectors = work->z * work->norm.cwiseInverse().asDiagonal();
  } else {
    work->vectors = work->z;
  }
}

void TwoTowerModel::MlpForward(int tower, const PulledRows& rows, TowerWork* work) const {
  const size_t layers = layer_in_.size();
  const float* bias = rows.rows[BiasTable(tower)].data();
  // Hidden layers with ReLU, then the linear output layer (z).
  for (size_t l = 0; l + 1 < layers; ++l) {
    DenseForward(rows.rows[LayerTable(tower, l)].data(), bias + bias_offset_[l], layer_out_[l], layer_in_[l],
                 /*relu=*/true, work->acts[l], &work->acts[l + 1]);
  }
  const size_t last = layers - 1;
  DenseForward(rows.rows[LayerTable(tower, last)].data(), bias + bias_offset_[last], layer_out_[last], layer_in_[last],
               /*relu=*/false, work->acts[last], &work->z);
  if (options_.tower == TwoTowerTower::kResidual) work->z += work->acts[0];
}

void TwoTowerModel::TowerBackward(int tower, const Batch& batch, const PulledRows& rows,
                                  const TowerWork& work, const float* d_vectors,
                                  Gradients* grads) const {
  const Eigen::Index n = work.z.cols();
  const Eigen::Index d = work.z.rows();
  Eigen::Map<const Eigen::MatrixXf> d_vec(d_vectors, d, n);
  TowerDelta delta_z;
  Eigen::MatrixXf& delta = delta_z.m;  // d loss / d z
  if (options_.score == TwoTowerScore::kCosine) {
    // v = z / |z|:  d/dz = (g - (g . v) v) / |z|
    const Eigen::RowVectorXf dots = (d_vec.cwiseProduct(work.vectors)).colwise().sum();
    delta = (d_vec - work.vectors * dots.asDiagonal()) * work.norm.cwiseInverse().asDiagonal();
  } else {
    delta = d_vec;
  }
  if (options_.tower != TwoTowerTower::kIdentity) {
    // Residual: z = h_0 + MLP(h_0), so d/dh_0 is the MLP's backward plus delta itself.
    Eigen::MatrixXf direct;
    if (options_.tower == TwoTowerTower::kResidual) direct = delta;
    MlpBackward(tower, rows, work, grads, &delta_z);
    if (options_.tower == TwoTowerTower::kResidual) delta += direct;
  }
  EmbeddingBackward(tower, batch, rows, work, delta_z, grads);
}

void TwoTowerModel::MlpBackward(int tower, const PulledRows& rows, const TowerWork& work,
                                Gradients* grads, TowerDelta* delta_io) const {
  Eigen::MatrixXf& delta = delta_io->m;
  const size_t layers = layer_in_.size();
  float* bias_grad = grads->rows[BiasTable(tower)].data();
  for (size_t l = layers; l-- > 0;) {
    // Hidden layers are ReLU layers, the output layer (the last) is linear.
    const Eigen::MatrixXf* relu_output = l + 1 < layers ? &work.acts[l + 1] : nullptr;
    DenseBackward(rows.rows[LayerTable(tower, l)].data(), layer_out_[l], layer_in_[l], work.acts[l], relu_output,
                  grads->rows[LayerTable(tower, l)].data(), bias_grad + bias_offset_[l], &delta);
  }
}

void TwoTowerModel::EmbeddingBackward(int tower, const Batch& batch, const PulledRows& rows,
                                      const TowerWork& work,
                                      const TowerDelta& delta_h0, Gradients* grads) const {
  const Eigen::MatrixXf& delta = delta_h0.m;
  const Eigen::Index n = work.z.cols();
  // delta = d loss / d h_0; h_0 is inv_count * the sum of x_f e_f.
  const int k = static_cast<int>(options_.dim);
  for (Eigen::Index c = 0; c < n; ++c) {
    if (work.inv_count[c] == 0.0f) continue;
    const size_t e = work.begin + c;
    const float* g_in = delta.col(c).data();
    const uint32_t item_id_position = ItemIdPosition(batch, e);
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
      if (!InTower(tower, batch, f, item_id_position) || rows.row_of_feature[f] < 0) continue;
      const float scale = batch.values[f] * work.inv_count[c];
      const int table = TableOfField(batch.fields[f]);
      float* g = grads->Row(table, rows.row_of_feature[f], RowWidth(table));
      for (int j = 0; j < k; ++j) g[j] += scale * g_in[j];
    }
  }
}

LossSum TwoTowerModel::ForwardBackward(const Batch& batch, size_t begin, size_t end,
                                       const PulledRows& rows, Gradients* grads) const {
  LossSum out;
  out.examples = end - begin;
  if (begin >= end) return out;
  const size_t n_all = batch.size();
  const Eigen::Index m = static_cast<Eigen::Index>(end - begin);
  const Eigen::Index b = static_cast<Eigen::Index>(n_all);
  TowerWork users, items;
  TowerForward(kUserTower, batch, begin, end, rows, &users);
  TowerForward(kItemTower, batch, 0, n_all, rows, &items);

  // Item identity, and the in-batch frequency of each item for logQ.
  std::vector<int32_t> item_id(n_all);
  for (size_t e = 0; e < n_all; ++e) item_id[e] = ItemIdRow(batch, e, rows);
  std::vector<float> log_q;
  if (options_.logq_correction) {
    log_q.assign(n_all, 0.0f);
    for (size_t j = 0; j < n_all; ++j) {
      size_t same = 0;
      if (item_id[j] < 0) {
        same = 1;
      } else {
        for (size_t o = 0; o < n_all; ++o) same += item_id[o] == item_id[j];
      }
      log_q[j] = std::log(static_cast<float>(same) / static_cast<float>(n_all));
    }
  }

  const float inv_t = 1.0f / options_.temperature;
  Eigen::MatrixXf logits = users.vectors.transpose() * items.vectors;  // m x B
  if (options_.item_bias) {
    for (size_t j = 0; j < n_all; ++j)
      logits.col(static_cast<Eigen::Index>(j)).array() += ItemBias(batch, j, rows);
  }
  logits *= inv_t;
  Eigen::MatrixXf d_logits = Eigen::MatrixXf::Zero(m, b);
  double loss = 0;
  for (Eigen::Index r = 0; r < m; ++r) {
    const size_t e = begin + r;
    // An example needs both towers' features to be a positive pair.
    if (users.inv_count[r] == 0.0f || items.inv_count[e] == 0.0f) continue;
    double max = -std::numeric_limits<double>::infinity();
    auto usable = [&](size_t j) {
      if (items.inv_count[j] == 0.0f) return false;
      return j == e || item_id[e] < 0 || item_id[j] != item_id[e];
    };
    auto logit = [&](size_t j) {
      double s = logits(r, static_cast<Eigen::Index>(j));
      if (options_.logq_correction) s -= log_q[j];
      return s;
    };
    for (size_t j = 0; j < n_all; ++j)
      if (usable(j)) max = std::max(max, logit(j));
    double sum = 0;
    for (size_t j = 0; j < n_all; ++j)
      if (usable(j)) sum += std::exp(logit(j) - max);
    loss += max + std::log(sum) - logit(e);
    for (size_t j = 0; j < n_all; ++j) {
      if (!usable(j)) continue;
      d_logits(r, static_cast<Eigen::Index>(j)) = static_cast<float>(std::exp(logit(j) - max) / sum);
    }
    d_logits(r, static_cast<Eigen::Index>(e)) -= 1.0f;
  }
  d_logits *= inv_t;
  const Eigen::MatrixXf d_users = items.vectors * d_logits.transpose();  // d x m
  const Eigen::MatrixXf d_items = users.vectors * d_logits;              // d x B
  TowerBackward(kUserTower, batch, rows, users, d_users.data(), grads);
  TowerBackward(kItemTower, batch, rows, items, d_items.data(), grads);
  if (options_.item_bias) {
    const int width = RowWidth(kItemEmbeddingTable);
    for (size_t j = 0; j < n_all; ++j) {
      if (item_id[j] < 0) continue;
      grads->Row(kItemEmbeddingTable, item_id[j], width)[options_.dim] +=
          d_logits.col(static_cast<Eigen::Index>(j)).sum();
    }
  }

  // Per-use L2 of the embedding rows used by this call's examples (both towers).
  if (options_.reg > 0) {
    double penalty = 0;
    for (size_t e = begin; e < end; ++e) {
      for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) {
        const int table = TableOfField(batch.fields[f]);
        if (table < 0 || rows.row_of_feature[f] < 0) continue;
        const int width = RowWidth(table);
        const float* v = rows.Row(table, rows.row_of_feature[f], width);
        float* g = grads->Row(table, rows.row_of_feature[f], width);
        // With item_bias the item rows' last column is penalised too (the bias of an item id).
        for (int j = 0; j < width; ++j) {
          penalty += double{v[j]} * v[j];
          g[j] += options_.reg * v[j];
        }
      }
    }
    loss += 0.5 * options_.reg * penalty;
  }
  out.loss = loss;
  return out;
}

void TwoTowerModel::Predict(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                            float* preds) const {
  if (begin >= end) return;
  TowerWork users, items;
  TowerForward(kUserTower, batch, begin, end, rows, &users);
  TowerForward(kItemTower, batch, begin, end, rows, &items);
  for (size_t e = begin; e < end; ++e) {
    const Eigen::Index c = static_cast<Eigen::Index>(e - begin);
    const double s = (users.vectors.col(c).dot(items.vectors.col(c)) + ItemBias(batch, e, rows)) /
                     options_.temperature;
    preds[e] = static_cast<float>(1.0 / (1.0 + std::exp(-s)));
  }
}

void TwoTowerModel::UserVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                                float* out) const {
  if (begin >= end) return;
  TowerWork work;
  TowerForward(kUserTower, batch, begin, end, rows, &work);
  CopyVectors(work.vectors, options_.item_bias, [](size_t) { return 1.0f; }, out);
}

void TwoTowerModel::ItemVectors(const Batch& batch, size_t begin, size_t end, const PulledRows& rows,
                                float* out) const {
  if (begin >= end) return;
  TowerWork work;
  TowerForward(kItemTower, batch, begin, end, rows, &work);
  CopyVectors(work.vectors, options_.item_bias,
              [&](size_t c) { return ItemBias(batch, begin + c, rows); }, out);
}

ModelDescription TwoTowerModel::Describe() const {
  const TwoTowerOptions& o = options_;
  const std::string k = std::to_string(o.dim);
  ModelDescription d;
  d.task = ModelTask::kRanking;
  const char* tower = o.tower == TwoTowerTower::kIdentity ? "z = h_0"
                      : o.tower == TwoTowerTower::kResidual ? "z = h_0 + W_out h_L + b_out"
                                                             : "z = W_out h_L + b_out";
  d.prediction = std::string("score(u, i) = (dot(vec_u, vec_i)") + (o.item_bias ? " + b_i" : "") +
                 ") / temperature; vec = " + (o.score == TwoTowerScore::kCosine ? "z / |z|" : "z") + ", " + tower +
                 ", h_l = relu(W_l h_{l-1} + b_l), h_0 = pooled embeddings of the tower's features; items ranked by "
                 "score; /predict returns sigmoid(score); see models/two_tower.h";
  d.tables = {{"user_emb", "e[0.." + k + "), the embedding of a user-side feature"},
              {"item_emb", "e[0.." + k + "), the embedding of an item-side or shared feature" +
                               (o.item_bias ? std::string(", then the item bias b_i (column ") + k + ", item ids only)" : "")}};
  if (HasWeights()) {
    for (int t = 0; t < 2; ++t) {
      const std::string side = t == kUserTower ? "user" : "item";
      for (size_t l = 0; l < layer_in_.size(); ++l)
        d.tables.push_back({side + "_mlp" + std::to_string(l), std::to_string(layer_out_[l]) + " x " +
                                                                   std::to_string(layer_in_[l]) +
                                                                   " weights, row-major (row o = unit o)"});
      d.tables.push_back({side + "_bias", "b_1, ..., b_L then b_out, one after another"});
    }
  }
  d.fields = {{"0", "user", "user_emb"}, {"2..31", "user side", "user_emb"}, {"1", "item", "item_emb"},
              {"32..63", "item side", "item_emb"}, {"64..95", "shared vocabulary", "item_emb"}};
  d.embedding = EmbeddingColumns{"user_emb", 0, o.dim};
  ModelAttribute hidden{"hidden", {}, true};
  for (uint32_t h : o.hidden) hidden.values.push_back(h);
  d.attributes = {{"dim", {double(o.dim)}}, {"out_dim", {double(o.out_dim)}}, hidden,
                  {"temperature", {o.temperature}}};
  return d;
}

}  // namespace embark
