// CtrScorer: the click probability (pCTR) of showing each candidate campaign to one request --
// the "value" half of eCPM. Implementations:
//   ModelCtrScorer       a served model (serving/serving_model.h): each candidate is one
//                        example, the user's and the request's features plus the campaign's
//                        creative features, scored by the model's own Predict (lr, fm, ffm,
//                        deepfm give a click probability; imf and two_tower the sigmoid of
//                        their user-item score, which is what they are trained on)
//   PopularityCtrScorer  the campaign's own click rate so far, all users pooled:
//                        (clicks + 1) / (impressions + 20) -- a non-personalised baseline
//                        (the prior mean 0.05 until the campaign has data)
//   FixedCtrScorer       a table of pCTRs per campaign (tests, hand computations)
//
// Thread-safety: Score is const and safe from any thread for every implementation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/campaign.h"
#include "delivery/raw_feature.h"
#include "serving/serving_model.h"

namespace embark {

// Impressions and clicks of a campaign so far (all days), as the ledger counts them.
struct CampaignHistory {
  uint64_t impressions = 0;
  uint64_t clicks = 0;
};

class CtrScorer {
 public:
  virtual ~CtrScorer() = default;
  // pctr[i] for candidate campaigns[i] (indexes into the deliverer's campaign list), given
  // the request's user and context features. `history` is per campaign of the whole list.
  virtual void Score(const std::vector<RawFeature>& features, const std::vector<uint32_t>& candidates,
                     const std::vector<CampaignHistory>& history, double* pctr) const = 0;
  // Fields the scorer reads (request features of other fields are refused); empty = any.
  virtual Status CheckFeatures(const std::vector<RawFeature>& features, const std::string& where) const {
    return Status::OK();
  }
  virtual std::string Describe() const = 0;
};

class ModelCtrScorer : public CtrScorer {
 public:
  // InvalidArgument when a campaign has a feature of a field the model does not read.
  static Status Create(std::shared_ptr<const ServingModel> model, const std::vector<Campaign>& campaigns,
                       std::unique_ptr<ModelCtrScorer>* out);
  void Score(const std::vector<RawFeature>& features, const std::vector<uint32_t>& candidates,
             const std::vector<CampaignHistory>& history, double* pctr) const override;
  Status CheckFeatures(const std::vector<RawFeature>& features, const std::string& where) const override;
  std::string Describe() const override;

 private:
  struct Key {
    uint64_t key;
    float value;
    uint16_t field;
  };
  std::shared_ptr<const ServingModel> model_;
  std::vector<std::vector<Key>> campaign_keys_;  // hashed once at start
};

class PopularityCtrScorer : public CtrScorer {
 public:
  void Score(const std::vector<RawFeature>& features, const std::vector<uint32_t>& candidates,
             const std::vector<CampaignHistory>& history, double* pctr) const override;
  std::string Describe() const override { return "popularity"; }
};

class FixedCtrScorer : public CtrScorer {
 public:
  explicit FixedCtrScorer(std::vector<double> pctr_by_campaign) : pctr_(std::move(pctr_by_campaign)) {}
  void Score(const std::vector<RawFeature>& features, const std::vector<uint32_t>& candidates,
             const std::vector<CampaignHistory>& history, double* pctr) const override {
    for (size_t i = 0; i < candidates.size(); ++i) pctr[i] = pctr_[candidates[i]];
  }
  std::string Describe() const override { return "fixed"; }

 private:
  std::vector<double> pctr_;
};

}  // namespace embark
