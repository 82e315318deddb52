// BudgetLedger: what each campaign has spent, shown and been clicked today, and how often each
// user has seen each campaign today -- the state budgets and frequency caps are enforced on.
// Also keeps all-time impressions and clicks per campaign (the popularity baseline reads them).
//
// Days are UTC calendar days of request time (days since the epoch); StartDay clears the
// day's counters.
//
// Thread-safety: none; the deliverer calls it under its lock.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace embark {

class BudgetLedger {
 public:
  explicit BudgetLedger(size_t num_campaigns)
      : spent_(num_campaigns), impressions_(num_campaigns), clicks_(num_campaigns),
        total_impressions_(num_campaigns), total_clicks_(num_campaigns) {}

  void StartDay(int64_t day);
  int64_t day() const { return day_; }

  void RecordImpression(const std::string& user, size_t campaign, double charge);
  void RecordClick(size_t campaign, double charge);
  // Impressions of `campaign` to `user` today.
  uint32_t Views(const std::string& user, size_t campaign) const;

  const std::vector<double>& spent_today() const { return spent_; }
  uint64_t impressions_today(size_t c) const { return impressions_[c]; }
  uint64_t clicks_today(size_t c) const { return clicks_[c]; }
  uint64_t total_impressions(size_t c) const { return total_impressions_[c]; }
  uint64_t total_clicks(size_t c) const { return total_clicks_[c]; }

 private:
  int64_t day_ = INT64_MIN;
  std::vector<double> spent_;
  std::vector<uint64_t> impressions_, clicks_, total_impressions_, total_clicks_;
  // user -> (campaign, views today); a user sees few campaigns a day, so a short list.
  std::unordered_map<std::string, std::vector<std::pair<uint32_t, uint32_t>>> views_;
};

}  // namespace embark
