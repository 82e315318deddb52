#include "serving/serving_model.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include "models/mf.h"
#include "ps/row_init.h"

namespace embark {

// Reusable buffers of one Score call: the PulledRows handed to Predict. Dense tables are
// copied in once when the scratch is made (a DeepFM MLP is hundreds of KB; copying it per
// request would dominate); sparse tables are refilled per call, keeping their capacity.
struct ServingModel::Scratch {
  PulledRows rows;
};

namespace {

std::string UtcNow() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

ServingModel::~ServingModel() = default;

Status ServingModel::Create(ServingModelParts parts, const ServingOptions& options,
                            std::shared_ptr<const ServingModel>* out) {
  if (parts.model == nullptr) return Status::InvalidArgument("serving model: no model");
  std::shared_ptr<ServingModel> m(new ServingModel());
  m->configs_ = parts.model->Tables();
  if (parts.tables.size() != m->configs_.size()) {
    return Status::InvalidArgument("serving model: model " + parts.model->name() + " has " +
                                   std::to_string(m->configs_.size()) + " tables, the bundle " +
                                   std::to_string(parts.tables.size()));
  }
  m->indexes_.resize(m->configs_.size());
  for (size_t t = 0; t < m->configs_.size(); ++t) {
    const TableConfig& c = m->configs_[t];
    const ServingTableRows& rows = parts.tables[t];
    if (c.dense) {
      if (rows.values == nullptr && c.dense_size > 0)
        return Status::InvalidArgument("serving model: dense table '" + c.name + "' has no values");
      continue;
    }
    if (rows.num_rows > 0 && (rows.keys == nullptr || rows.values == nullptr))
      return Status::InvalidArgument("serving model: table '" + c.name + "' has rows but no keys or values");
    if (rows.num_rows >= KeyIndex::kNotFound)
      return Status::InvalidArgument("serving model: table '" + c.name + "' has too many rows");
    m->indexes_[t].Build(rows.keys, rows.num_rows);
  }
  m->model_ = std::move(parts.model);
  m->tables_ = std::move(parts.tables);
  m->backing_ = std::move(parts.backing);
  m->bundle_ = std::move(parts.bundle);
  m->seed_ = parts.seed;
  m->data_format_ = parts.data_format;
  m->item_ids_ = std::move(parts.item_ids);
  m->info_ = std::move(parts.info);
  m->info_.model = m->model_->name();
  EMBARK_RETURN_IF_ERROR(m->BuildTopK(options));
  if (!m->item_ids_.empty() && m->item_ids_.size() != m->num_items_) {
    return Status::InvalidArgument("serving model: the id map has " + std::to_string(m->item_ids_.size()) +
                                   " item ids for " + std::to_string(m->num_items_) + " item rows");
  }
  m->info_.loaded_at = UtcNow();
  *out = std::move(m);
  return Status::OK();
}

Status ServingModel::BuildTopK(const ServingOptions& options) {
  const auto* mf = dynamic_cast<const MfModel*>(model_.get());
  if (mf == nullptr) return Status::OK();  // no user/item tables: scoring only
  user_table_ = MfModel::kUserTable;
  item_table_ = MfModel::kItemTable;
  const int k = static_cast<int>(mf->options().dim);
  bias_scale_ = mf->options().bias_scale;
  topk_dim_ = k + 1;
  // Item vector [q_i, b_i] against user query [p_u, 1]: the inner product is <p_u, q_i> + b_i.
  const ServingTableRows& items = tables_[item_table_];
  num_items_ = items.num_rows;
  item_vectors_.resize(num_items_ * topk_dim_);
  for (size_t r = 0; r < num_items_; ++r) {
    const float* src = items.values + r * topk_dim_;
    float* dst = item_vectors_.data() + r * topk_dim_;
    std::copy(src, src + k, dst);
    dst[k] = bias_scale_ * src[mf->bias_column()];
  }
  exact_ = MakeExactIndex(item_vectors_.data(), num_items_, topk_dim_);
  info_.index = "exact";
  if (options.index == TopKIndexKind::kHnsw) {
    EMBARK_RETURN_IF_ERROR(MakeHnswIndex(item_vectors_.data(), num_items_, topk_dim_, options.hnsw, &approx_));
    info_.index = "hnsw";
    // Recall@10 on users spread evenly over the user table.
    const ServingTableRows& users = tables_[user_table_];
    const size_t nq = std::min(options.recall_queries, users.num_rows);
    std::vector<float> queries(nq * topk_dim_), q;
    for (size_t i = 0; i < nq; ++i) {
      UserQuery(static_cast<uint32_t>(i * users.num_rows / nq), &q);
      std::copy(q.begin(), q.end(), queries.begin() + i * topk_dim_);
    }
    info_.recall_at_10 = MeasureRecall(*exact_, *approx_, queries.data(), nq, topk_dim_, 10);
    info_.recall_queries = nq;
  }
  return Status::OK();
}

void ServingModel::UserQuery(uint32_t user_row, std::vector<float>* query) const {
  const int k = topk_dim_ - 1;
  const float* p = tables_[user_table_].values + static_cast<size_t>(user_row) * topk_dim_;
  query->assign(p, p + k);
  query->push_back(1.0f);
}

uint32_t ServingModel::FindUser(uint64_t user_key) const {
  return user_table_ < 0 ? KeyIndex::kNotFound : indexes_[user_table_].Find(user_key);
}

uint32_t ServingModel::FindItem(uint64_t item_key) const {
  return item_table_ < 0 ? KeyIndex::kNotFound : indexes_[item_table_].Find(item_key);
}

const std::string& ServingModel::ItemId(uint32_t row) const {
  static const std::string kNone;
  return row < item_ids_.size() ? item_ids_[row] : kNone;
}

void ServingModel::TopK(uint32_t user_row, size_t k, const std::vector<uint32_t>& excluded, bool exact,
                        std::vector<ScoredItem>* out) const {
  out->clear();
  if (!has_topk()) return;
  std::vector<float> query;
  UserQuery(user_row, &query);
  std::vector<IndexHit> hits;
  const TopKIndex& index = (exact || approx_ == nullptr) ? *exact_ : *approx_;
  index.Search(query.data(), k, excluded, &hits);
  out->reserve(hits.size());
  for (const IndexHit& h : hits) out->push_back({h.row, tables_[item_table_].keys[h.row], h.score});
}

std::unique_ptr<ServingModel::Scratch> ServingModel::TakeScratch() const {
  {
    std::lock_guard<std::mutex> lock(scratch_mu_);
    if (!free_scratch_.empty()) {
      auto s = std::move(free_scratch_.back());
      free_scratch_.pop_back();
      return s;
    }
  }
  auto s = std::make_unique<Scratch>();
  s->rows.rows.resize(configs_.size());
  for (size_t t = 0; t < configs_.size(); ++t) {
    if (configs_[t].dense) s->rows.rows[t].assign(tables_[t].values, tables_[t].values + configs_[t].dense_size);
  }
  return s;
}

void ServingModel::ReturnScratch(std::unique_ptr<Scratch> s) const {
  std::lock_guard<std::mutex> lock(scratch_mu_);
  free_scratch_.push_back(std::move(s));
}

void ServingModel::Score(const Batch& batch, float* scores, ScoreStats* stats) const {
  std::unique_ptr<Scratch> scratch = TakeScratch();
  PulledRows& pulled = scratch->rows;
  for (size_t t = 0; t < configs_.size(); ++t) {
    if (!configs_[t].dense) pulled.rows[t].clear();
  }
  const size_t nf = batch.num_features();
  pulled.row_of_feature.assign(nf, -1);
  size_t unknown = 0;
  // One row per feature occurrence (no de-duplication: requests are small, and Predict only
  // reads rows). Unknown keys get the row the trainer's server would have created.
  for (size_t i = 0; i < nf; ++i) {
    const int t = model_->TableOfField(batch.fields[i]);
    if (t < 0) continue;
    const TableConfig& c = configs_[t];
    std::vector<float>& dst = pulled.rows[t];
    const size_t dim = c.dim;
    const size_t at = dst.size();
    pulled.row_of_feature[i] = static_cast<int32_t>(at / dim);
    dst.resize(at + dim);
    const uint32_t row = indexes_[t].Find(batch.keys[i]);
    if (row != KeyIndex::kNotFound) {
      std::memcpy(dst.data() + at, tables_[t].values + static_cast<size_t>(row) * dim, dim * sizeof(float));
    } else {
      InitRowWeights(seed_, c.id, batch.keys[i], c.init, static_cast<int>(dim), dst.data() + at);
      ++unknown;
    }
  }
  if (batch.size() > 0) model_->Predict(batch, 0, batch.size(), pulled, scores);
  if (stats != nullptr) stats->unknown_features = unknown;
  ReturnScratch(std::move(scratch));
}

}  // namespace embark
