#include "worker/ranking_evaluator.h"

#include <Eigen/Core>
#include <algorithm>

#include "core/hash.h"
#include "models/interaction_fields.h"

namespace embark {
namespace {

constexpr size_t kMaxScoreFloats = size_t{16} << 20;  // 64 MiB of scores per block of users
constexpr int kMaxUsersPerBlock = 32;

// The key of the first feature of `field` in example e, or false.
bool KeyOfField(const Batch& b, size_t e, uint16_t field, uint64_t* key) {
  for (uint32_t f = b.offsets[e]; f < b.offsets[e + 1]; ++f) {
    if (b.fields[f] == field) {
      *key = b.keys[f];
      return true;
    }
  }
  return false;
}

// Sorts and deduplicates each user's list of a CSR built from per-user vectors.
void ToCsr(std::vector<std::vector<uint32_t>>* lists, std::vector<uint32_t>* begin, std::vector<uint32_t>* flat) {
  begin->assign(1, 0);
  flat->clear();
  for (auto& l : *lists) {
    std::sort(l.begin(), l.end());
    l.erase(std::unique(l.begin(), l.end()), l.end());
    flat->insert(flat->end(), l.begin(), l.end());
    begin->push_back(static_cast<uint32_t>(flat->size()));
    std::vector<uint32_t>().swap(l);
  }
}

}  // namespace

int RankingEvaluator::WorkerOfUser(uint64_t user_key, int num_workers) {
  return static_cast<int>((static_cast<unsigned __int128>(Mix64(user_key ^ 0x72616e6b)) * num_workers) >> 64);
}

void RankingEvaluator::AppendExample(const Batch& from, size_t e, InteractionSide side,
                                     std::vector<Batch>* chunks) const {
  if (chunks->empty() || chunks->back().size() >= options_.chunk) chunks->emplace_back();
  Batch& to = chunks->back();
  const uint32_t item_id_position = ItemIdPosition(from, e);
  for (uint32_t f = from.offsets[e]; f < from.offsets[e + 1]; ++f)
    if (SideOf(from.fields[f], f, item_id_position) == side) to.AddFeature(from.keys[f], from.values[f], from.fields[f]);
  to.EndExample(1.0f);
}

int64_t RankingEvaluator::ItemIndex(uint64_t key, const Batch& from, size_t e, bool add) {
  auto it = item_index_.find(key);
  if (it != item_index_.end()) return it->second;
  if (!add) return -1;
  const uint32_t index = static_cast<uint32_t>(item_count_.size());
  item_index_.emplace(key, index);
  item_count_.push_back(0);
  AppendExample(from, e, InteractionSide::kItem, &item_chunks_);
  return index;
}

Status RankingEvaluator::ReadFiles(const std::string& files, DataFormat format,
                                   const std::function<Status(const Batch&)>& on_batch) const {
  DataReaderOptions ropts;
  ropts.format = format;
  ropts.files = files;
  ropts.num_workers = 1;  // every worker reads all of it
  ropts.worker_index = 0;
  ropts.batch_size = 4096;
  ropts.bad_lines = options_.bad_lines;
  DataReader reader(ropts);
  EMBARK_RETURN_IF_ERROR(reader.Open());
  EMBARK_RETURN_IF_ERROR(reader.StartEpoch(0));
  Batch batch;
  for (;;) {
    bool end = false;
    EMBARK_RETURN_IF_ERROR(reader.Next(&batch, &end));
    if (end) return Status::OK();
    EMBARK_RETURN_IF_ERROR(on_batch(batch));
  }
}

Status RankingEvaluator::Load() {
  // 1. This worker's test users: query features and held-out item keys.
  std::unordered_map<uint64_t, uint32_t> user_index;
  std::vector<std::vector<uint64_t>> held_out_keys;
  EMBARK_RETURN_IF_ERROR(ReadFiles(options_.test, options_.format, [&](const Batch& b) {
    for (size_t e = 0; e < b.size(); ++e) {
      uint64_t user, item;
      if (!KeyOfField(b, e, kUserIdField, &user) || !KeyOfField(b, e, kItemIdField, &item)) continue;
      if (WorkerOfUser(user, options_.num_workers) != options_.worker_index) continue;
      auto [it, added] = user_index.emplace(user, static_cast<uint32_t>(held_out_keys.size()));
      if (added) {
        held_out_keys.emplace_back();
        AppendExample(b, e, InteractionSide::kUser, &user_chunks_);
      }
      held_out_keys[it->second].push_back(item);
    }
    return Status::OK();
  }));
  num_users_ = held_out_keys.size();

  // 2. The catalogue file, when given.
  if (!options_.items.empty()) {
    uint64_t line = 0;
    EMBARK_RETURN_IF_ERROR(ReadFiles(options_.items, DataFormat::kLibffm, [&](const Batch& b) {
      for (size_t e = 0; e < b.size(); ++e) {
        ++line;
        uint64_t item;
        if (!KeyOfField(b, e, kItemIdField, &item)) {
          return Status::InvalidArgument(options_.items + ": item " + std::to_string(line) +
                                         " (non-blank line) has no item id (a feature of field 1)");
        }
        ItemIndex(item, b, e, true);
      }
      return Status::OK();
    }));
  }

  // 3. The training files: popularity, exclusions, and the catalogue when there is no file.
  const bool add_items = options_.items.empty();
  std::vector<std::vector<uint32_t>> excluded(num_users_);
  EMBARK_RETURN_IF_ERROR(ReadFiles(options_.train, options_.format, [&](const Batch& b) {
    for (size_t e = 0; e < b.size(); ++e) {
      uint64_t user, item;
      if (!KeyOfField(b, e, kItemIdField, &item)) continue;
      const int64_t index = ItemIndex(item, b, e, add_items);
      if (index < 0) continue;
      ++item_count_[index];
      if (!KeyOfField(b, e, kUserIdField, &user)) continue;
      auto it = user_index.find(user);
      if (it != user_index.end()) excluded[it->second].push_back(static_cast<uint32_t>(index));
    }
    return Status::OK();
  }));
  ToCsr(&excluded, &excluded_begin_, &excluded_);

  // 4. Held-out items as catalogue indices, without the user's training items.
  std::vector<std::vector<uint32_t>> held_out(num_users_);
  for (size_t u = 0; u < num_users_; ++u) {
    const uint32_t* ex = excluded_.data() + excluded_begin_[u];
    const size_t n_ex = excluded_begin_[u + 1] - excluded_begin_[u];
    for (uint64_t key : held_out_keys[u]) {
      auto it = item_index_.find(key);
      if (it == item_index_.end() || std::binary_search(ex, ex + n_ex, it->second)) continue;
      held_out[u].push_back(it->second);
    }
    std::vector<uint64_t>().swap(held_out_keys[u]);
  }
  ToCsr(&held_out, &held_out_begin_, &held_out_);

  // 5. The popularity baseline does not change during training: computed once.
  PopularityRanker ranker(item_count_);
  std::vector<uint32_t> top;
  for (size_t u = 0; u < num_users_; ++u) {
    const size_t n_held = held_out_begin_[u + 1] - held_out_begin_[u];
    if (n_held == 0) continue;
    ranker.TopK(excluded_.data() + excluded_begin_[u], excluded_begin_[u + 1] - excluded_begin_[u], options_.top_k, &top);
    AddUserMetrics(top, held_out_.data() + held_out_begin_[u], n_held, options_.top_k, &popularity_);
  }
  return Status::OK();
}

Status RankingEvaluator::Evaluate(const Model& model, const PullFn& pull, Evaluation* eval) const {
  const int d = model.VectorDim();
  const size_t n_items = item_count_.size();
  RankingSums sums;
  if (n_items == 0 || num_users_ == 0 || d <= 0) {
    eval->AddRanking(sums, popularity_);
    return Status::OK();
  }
  // Every item vector once per evaluation.
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  RowMajor item_vectors(static_cast<Eigen::Index>(n_items), d);
  size_t done = 0;
  for (const Batch& chunk : item_chunks_) {
    const PulledRows* rows = nullptr;
    EMBARK_RETURN_IF_ERROR(pull(chunk, &rows));
    model.ItemVectors(chunk, 0, chunk.size(), *rows, item_vectors.data() + done * d);
    done += chunk.size();
  }

  const int block = static_cast<int>(std::clamp<size_t>(kMaxScoreFloats / n_items, 1, kMaxUsersPerBlock));
  std::vector<float> user_vectors;
  Eigen::MatrixXf scores;  // n_items x users of a block; column c = one user's scores
  std::vector<uint32_t> top;
  size_t user = 0;
  for (const Batch& chunk : user_chunks_) {
    const PulledRows* rows = nullptr;
    EMBARK_RETURN_IF_ERROR(pull(chunk, &rows));
    user_vectors.assign(chunk.size() * d, 0.0f);
    model.UserVectors(chunk, 0, chunk.size(), *rows, user_vectors.data());
    for (size_t first = 0; first < chunk.size(); first += block) {
      const Eigen::Index nb = static_cast<Eigen::Index>(std::min<size_t>(block, chunk.size() - first));
      Eigen::Map<const Eigen::MatrixXf> users(user_vectors.data() + first * d, d, nb);  // d x nb
      scores.noalias() = item_vectors * users;
      for (Eigen::Index c = 0; c < nb; ++c) {
        const size_t u = user + first + c;
        const size_t n_held = held_out_begin_[u + 1] - held_out_begin_[u];
        if (n_held == 0) continue;
        TopK(scores.col(c).data(), n_items, excluded_.data() + excluded_begin_[u],
             excluded_begin_[u + 1] - excluded_begin_[u], options_.top_k, &top);
        AddUserMetrics(top, held_out_.data() + held_out_begin_[u], n_held, options_.top_k, &sums);
      }
    }
    user += chunk.size();
  }
  eval->AddRanking(sums, popularity_);
  return Status::OK();
}

}  // namespace embark
