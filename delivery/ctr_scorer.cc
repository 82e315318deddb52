#include "delivery/ctr_scorer.h"

#include "data/batch.h"
#include "data/line_parser.h"

namespace embark {

Status ModelCtrScorer::Create(std::shared_ptr<const ServingModel> model, const std::vector<Campaign>& campaigns,
                              std::unique_ptr<ModelCtrScorer>* out) {
  std::unique_ptr<ModelCtrScorer> s(new ModelCtrScorer());
  s->model_ = std::move(model);
  for (const Campaign& c : campaigns) {
    EMBARK_RETURN_IF_ERROR(s->CheckFeatures(c.features, "campaign " + c.id));
    std::vector<Key> keys;
    for (const RawFeature& f : c.features) keys.push_back({FeatureKey(f.field, f.id), f.value, f.field});
    s->campaign_keys_.push_back(std::move(keys));
  }
  *out = std::move(s);
  return Status::OK();
}

Status ModelCtrScorer::CheckFeatures(const std::vector<RawFeature>& features, const std::string& where) const {
  for (const RawFeature& f : features)
    if (model_->model().TableOfField(f.field) < 0)
      return Status::InvalidArgument(where + ": field " + std::to_string(f.field) + " is not read by the " +
                                     model_->info().model + " model");
  return Status::OK();
}

void ModelCtrScorer::Score(const std::vector<RawFeature>& features, const std::vector<uint32_t>& candidates,
                           const std::vector<CampaignHistory>&, double* pctr) const {
  if (candidates.empty()) return;
  std::vector<Key> shared;
  shared.reserve(features.size());
  for (const RawFeature& f : features) shared.push_back({FeatureKey(f.field, f.id), f.value, f.field});
  Batch batch;
  for (uint32_t c : candidates) {
    for (const Key& k : shared) batch.AddFeature(k.key, k.value, k.field);
    for (const Key& k : campaign_keys_[c]) batch.AddFeature(k.key, k.value, k.field);
    batch.EndExample(0);
  }
  std::vector<float> scores(batch.size());
  ScoreStats stats;
  model_->Score(batch, scores.data(), &stats);
  for (size_t i = 0; i < candidates.size(); ++i) pctr[i] = scores[i];
}

std::string ModelCtrScorer::Describe() const { return model_->info().model + " bundle " + model_->info().version; }

void PopularityCtrScorer::Score(const std::vector<RawFeature>&, const std::vector<uint32_t>& candidates,
                                const std::vector<CampaignHistory>& history, double* pctr) const {
  for (size_t i = 0; i < candidates.size(); ++i) {
    const CampaignHistory& h = history[candidates[i]];
    pctr[i] = (static_cast<double>(h.clicks) + 1.0) / (static_cast<double>(h.impressions) + 20.0);
  }
}

}  // namespace embark
