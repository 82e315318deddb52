#include "serving/serving_model.h"

#include <algorithm>
#include <cstring>
#include <ctime>

#include "models/interaction_fields.h"
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
  const int id_table = m->model_->TableOfField(kItemIdField);
  if (!m->item_ids_.empty() && (id_table < 0 || m->item_ids_.size() != m->tables_[id_table].num_rows)) {
    return Status::InvalidArgument("serving model: the id map has " + std::to_string(m->item_ids_.size()) +
                                   " item ids for " + std::to_string(id_table < 0 ? 0 : m->tables_[id_table].num_rows) +
                                   " rows of the item table");
  }
  EMBARK_RETURN_IF_ERROR(m->BuildTopK(options, parts.catalogue));
  if (m->has_topk()) m->BuildSeen(parts.seen);
  m->info_.loaded_at = UtcNow();
  *out = std::move(m);
  return Status::OK();
}

Status ServingModel::BuildTopK(const ServingOptions& options, const ItemCatalogueView& catalogue) {
  user_table_ = model_->TableOfField(kUserIdField);
  item_table_ = model_->TableOfField(kItemIdField);
  const std::optional<RowDotTopK> row_topk = model_->Describe().row_topk;
  if (!row_topk && !model_->IsRanking()) {
    topk_unavailable_ = "model " + model_->name() + " does not rank items; /topk needs an mf, imf or two_tower bundle";
    return Status::OK();
  }
  if (user_table_ < 0 || item_table_ < 0) {
    topk_unavailable_ = "model " + model_->name() + " has no user-id or item-id table";
    return Status::OK();
  }
  // Ids arrive per row of the item-id table; from here on they are per catalogue row.
  std::vector<std::string> ids_by_table_row = std::move(item_ids_);
  item_ids_.clear();
  if (row_topk) {
    mf_ = true;
    const int k = static_cast<int>(row_topk->dim);
    bias_scale_ = row_topk->bias_scale;
    topk_dim_ = k + 1;
    // Item vector [q_i, b_i] against user query [p_u, 1]: the inner product is <p_u, q_i> + b_i.
    const ServingTableRows& items = tables_[item_table_];
    num_items_ = items.num_rows;
    item_keys_.assign(items.keys, items.keys + num_items_);
    item_vectors_.resize(num_items_ * topk_dim_);
    for (size_t r = 0; r < num_items_; ++r) {
      const float* src = items.values + r * topk_dim_;
      float* dst = item_vectors_.data() + r * topk_dim_;
      std::copy(src, src + k, dst);
      dst[k] = bias_scale_ * src[row_topk->bias_column];
    }
  } else {
    EMBARK_RETURN_IF_ERROR(BuildRankingItems(catalogue));
    if (!topk_unavailable_.empty()) return Status::OK();
  }
  if (num_items_ == 0) {
    topk_unavailable_ = "the bundle has no items to rank";
    return Status::OK();
  }
  if (num_items_ >= KeyIndex::kNotFound) return Status::InvalidArgument("serving model: too many catalogue items");
  item_index_.Build(item_keys_.data(), num_items_);
  if (!ids_by_table_row.empty()) {
    item_ids_.resize(num_items_);
    for (size_t r = 0; r < num_items_; ++r) {
      const uint32_t row = indexes_[item_table_].Find(item_keys_[r]);
      if (row != KeyIndex::kNotFound) item_ids_[r] = ids_by_table_row[row];
    }
  }
  exact_ = MakeExactIndex(item_vectors_.data(), num_items_, topk_dim_);
  info_.index = "exact";
  if (options.index == TopKIndexKind::kHnsw) {
    EMBARK_RETURN_IF_ERROR(MakeHnswIndex(item_vectors_.data(), num_items_, topk_dim_, options.hnsw, &approx_));
    info_.index = "hnsw";
    std::vector<float> queries;
    SampleQueries(options.recall_queries, &queries);
    const size_t nq = queries.size() / topk_dim_;
    info_.recall_at_10 = MeasureRecall(*exact_, *approx_, queries.data(), nq, topk_dim_, 10);
    info_.recall_queries = nq;
  }
  return Status::OK();
}

Status ServingModel::BuildRankingItems(const ItemCatalogueView& catalogue) {
  topk_dim_ = model_->VectorDim();
  if (topk_dim_ <= 0) return Status::InvalidArgument("serving model: " + model_->name() + " has no vector dimension");
  const ServingTableRows& id_rows = tables_[item_table_];
  if (catalogue.empty()) {
    // Without a catalogue the items are the keys of the item-id table -- valid only when no
    // other feature shares that table (imf); two_tower's table also holds item features.
    for (uint32_t f = 0; f <= 0xffff; ++f) {
      if (f != kItemIdField && model_->TableOfField(static_cast<uint16_t>(f)) == item_table_) {
        topk_unavailable_ = "model " + model_->name() +
                            " needs the item catalogue with item features for top-K: export the bundle with "
                            "--items=FILE, --seen_from=FILES or --ids_from=FILES";
        return Status::OK();
      }
    }
    item_keys_.assign(id_rows.keys, id_rows.keys + id_rows.num_rows);
  } else {
    item_keys_.assign(catalogue.items, catalogue.items + catalogue.num_items);
  }
  num_items_ = item_keys_.size();
  item_vectors_.assign(num_items_ * topk_dim_, 0.0f);
  // Chunks of items through the model's item tower, as the trainer's evaluation does.
  constexpr size_t kChunk = 4096;
  std::unique_ptr<Scratch> scratch = TakeScratch();
  Batch batch;
  for (size_t first = 0; first < num_items_; first += kChunk) {
    const size_t n = std::min(kChunk, num_items_ - first);
    batch.Clear();
    for (size_t i = first; i < first + n; ++i) {
      if (catalogue.empty()) {
        batch.AddFeature(item_keys_[i], 1.0f, kItemIdField);
      } else {
        for (uint64_t f = catalogue.offsets[i]; f < catalogue.offsets[i + 1]; ++f)
          batch.AddFeature(catalogue.feature_keys[f], catalogue.feature_values[f], catalogue.feature_fields[f]);
      }
      batch.EndExample(1.0f);
    }
    Pull(batch, &scratch->rows);
    model_->ItemVectors(batch, 0, n, scratch->rows, item_vectors_.data() + first * topk_dim_);
  }
  ReturnScratch(std::move(scratch));
  return Status::OK();
}

void ServingModel::BuildSeen(const SeenItemsView& seen) {
  if (seen.empty()) return;
  seen_index_.Build(seen.users, seen.num_users);
  seen_begin_.reserve(seen.num_users + 1);
  seen_begin_.push_back(0);
  for (size_t u = 0; u < seen.num_users; ++u) {
    const size_t start = seen_rows_.size();
    for (uint64_t i = seen.offsets[u]; i < seen.offsets[u + 1]; ++i) {
      const uint32_t row = item_index_.Find(seen.items[i]);
      if (row != KeyIndex::kNotFound) seen_rows_.push_back(row);  // an item outside the catalogue is never ranked
    }
    std::sort(seen_rows_.begin() + start, seen_rows_.end());
    seen_begin_.push_back(static_cast<uint32_t>(seen_rows_.size()));
  }
  seen_users_.assign(seen.users, seen.users + seen.num_users);
}

void ServingModel::SampleQueries(size_t n, std::vector<float>* queries) const {
  queries->clear();
  // Users spread evenly over the seen users (real user ids) or else the user-id table.
  const bool from_seen = !mf_ && !seen_users_.empty();
  const size_t pool = from_seen ? seen_users_.size() : tables_[user_table_].num_rows;
  const size_t nq = std::min(n, pool);
  if (nq == 0) return;
  if (mf_) {
    std::vector<float> q;
    for (size_t i = 0; i < nq; ++i) {
      MfUserQuery(static_cast<uint32_t>(i * pool / nq), &q);
      queries->insert(queries->end(), q.begin(), q.end());
    }
    return;
  }
  Batch batch;
  for (size_t i = 0; i < nq; ++i) {
    const size_t at = i * pool / nq;
    batch.AddFeature(from_seen ? seen_users_[at] : tables_[user_table_].keys[at], 1.0f, kUserIdField);
    batch.EndExample(1.0f);
  }
  std::unique_ptr<Scratch> scratch = TakeScratch();
  Pull(batch, &scratch->rows);
  queries->assign(nq * topk_dim_, 0.0f);
  model_->UserVectors(batch, 0, nq, scratch->rows, queries->data());
  ReturnScratch(std::move(scratch));
}

void ServingModel::MfUserQuery(uint32_t user_row, std::vector<float>* query) const {
  const int k = topk_dim_ - 1;
  const float* p = tables_[user_table_].values + static_cast<size_t>(user_row) * topk_dim_;
  query->assign(p, p + k);
  query->push_back(1.0f);
}

Status ServingModel::UserQuery(const uint64_t* user_key, const std::vector<std::pair<uint16_t, uint64_t>>& side_features,
                               std::vector<float>* query) const {
  if (!has_topk()) return Status::InvalidArgument(topk_unavailable_);
  for (const auto& [field, key] : side_features) {
    if (field == kUserIdField || !IsUserField(field) || model_->TableOfField(field) < 0) {
      return Status::InvalidArgument("user_features: model " + model_->name() + " does not read field " +
                                     std::to_string(field) + " as a user feature" +
                                     (mf_ || field == kUserIdField ? " (the user id goes in \"user\")" : ""));
    }
  }
  const bool known = user_key != nullptr && indexes_[user_table_].Find(*user_key) != KeyIndex::kNotFound;
  if (mf_) {
    if (!known) return Status::NotFound("unknown user");
    MfUserQuery(indexes_[user_table_].Find(*user_key), query);
    return Status::OK();
  }
  if (!known && side_features.empty()) return Status::NotFound("unknown user");
  Batch batch;
  if (user_key != nullptr) batch.AddFeature(*user_key, 1.0f, kUserIdField);
  for (const auto& [field, key] : side_features) batch.AddFeature(key, 1.0f, field);
  batch.EndExample(1.0f);
  std::unique_ptr<Scratch> scratch = TakeScratch();
  Pull(batch, &scratch->rows);
  query->assign(topk_dim_, 0.0f);
  model_->UserVectors(batch, 0, 1, scratch->rows, query->data());
  ReturnScratch(std::move(scratch));
  return Status::OK();
}

uint32_t ServingModel::FindItem(uint64_t item_key) const { return has_topk() ? item_index_.Find(item_key) : KeyIndex::kNotFound; }

void ServingModel::AppendSeen(uint64_t user_key, std::vector<uint32_t>* rows) const {
  if (seen_begin_.empty()) return;
  const uint32_t u = seen_index_.Find(user_key);
  if (u == KeyIndex::kNotFound) return;
  rows->insert(rows->end(), seen_rows_.begin() + seen_begin_[u], seen_rows_.begin() + seen_begin_[u + 1]);
}

const std::string& ServingModel::ItemId(uint32_t row) const {
  static const std::string kNone;
  return row < item_ids_.size() ? item_ids_[row] : kNone;
}

void ServingModel::TopK(const float* query, size_t k, const std::vector<uint32_t>& excluded, bool exact,
                        std::vector<ScoredItem>* out) const {
  out->clear();
  if (!has_topk()) return;
  std::vector<IndexHit> hits;
  const TopKIndex& index = (exact || approx_ == nullptr) ? *exact_ : *approx_;
  index.Search(query, k, excluded, &hits);
  out->reserve(hits.size());
  for (const IndexHit& h : hits) out->push_back({h.row, item_keys_[h.row], h.score});
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

size_t ServingModel::Pull(const Batch& batch, PulledRows* pulled) const {
  for (size_t t = 0; t < configs_.size(); ++t) {
    if (!configs_[t].dense) pulled->rows[t].clear();
  }
  const size_t nf = batch.num_features();
  pulled->row_of_feature.assign(nf, -1);
  size_t unknown = 0;
  // One row per feature occurrence (no de-duplication: requests are small, and Predict only
  // reads rows). Unknown keys get the row the trainer's server would have created.
  for (size_t i = 0; i < nf; ++i) {
    const int t = model_->TableOfField(batch.fields[i]);
    if (t < 0) continue;
    const TableConfig& c = configs_[t];
    std::vector<float>& dst = pulled->rows[t];
    const size_t dim = c.dim;
    const size_t at = dst.size();
    pulled->row_of_feature[i] = static_cast<int32_t>(at / dim);
    dst.resize(at + dim);
    const uint32_t row = indexes_[t].Find(batch.keys[i]);
    if (row != KeyIndex::kNotFound) {
      std::memcpy(dst.data() + at, tables_[t].values + static_cast<size_t>(row) * dim, dim * sizeof(float));
    } else {
      InitRowWeights(seed_, c.id, batch.keys[i], c.init, static_cast<int>(dim), dst.data() + at);
      ++unknown;
    }
  }
  return unknown;
}

void ServingModel::Score(const Batch& batch, float* scores, ScoreStats* stats) const {
  std::unique_ptr<Scratch> scratch = TakeScratch();
  const size_t unknown = Pull(batch, &scratch->rows);
  if (batch.size() > 0) model_->Predict(batch, 0, batch.size(), scratch->rows, scores);
  if (stats != nullptr) stats->unknown_features = unknown;
  ReturnScratch(std::move(scratch));
}

}  // namespace embark
