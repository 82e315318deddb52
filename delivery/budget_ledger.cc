#include "delivery/budget_ledger.h"

#include <algorithm>

namespace embark {

void BudgetLedger::StartDay(int64_t day) {
  day_ = day;
  std::fill(spent_.begin(), spent_.end(), 0.0);
  std::fill(impressions_.begin(), impressions_.end(), 0);
  std::fill(clicks_.begin(), clicks_.end(), 0);
  views_.clear();
}

void BudgetLedger::RecordImpression(const std::string& user, size_t campaign, double charge) {
  spent_[campaign] += charge;
  ++impressions_[campaign];
  ++total_impressions_[campaign];
  auto& seen = views_[user];
  for (auto& v : seen) {
    if (v.first == campaign) {
      ++v.second;
      return;
    }
  }
  seen.emplace_back(static_cast<uint32_t>(campaign), 1);
}

void BudgetLedger::RecordClick(size_t campaign, double charge) {
  spent_[campaign] += charge;
  ++clicks_[campaign];
  ++total_clicks_[campaign];
}

uint32_t BudgetLedger::Views(const std::string& user, size_t campaign) const {
  auto it = views_.find(user);
  if (it == views_.end()) return 0;
  for (const auto& v : it->second)
    if (v.first == campaign) return v.second;
  return 0;
}

}  // namespace embark
