#include "delivery/pacing.h"

#include <algorithm>
#include <cmath>

namespace embark {

constexpr int64_t kDaySeconds = 86400;

void PacingController::StartDay(int64_t day) {
  day_ = day;
  std::fill(rate_.begin(), rate_.end(), options_.enabled ? options_.initial_rate : 1.0);
  std::fill(spent_at_update_.begin(), spent_at_update_.end(), 0.0);
  std::fill(potential_.begin(), potential_.end(), -1.0);
  std::fill(spend_sum_.begin(), spend_sum_.end(), 0.0);
  std::fill(rate_seconds_.begin(), rate_seconds_.end(), 0.0);
  last_update_ = day * kDaySeconds;
  next_update_ = last_update_ + static_cast<int64_t>(options_.interval_s);
}

double PacingController::Target(const Campaign& c, int64_t day, double now) {
  const double begin = std::max<double>(static_cast<double>(day * kDaySeconds), static_cast<double>(c.start));
  const double end = std::min<double>(static_cast<double>((day + 1) * kDaySeconds), static_cast<double>(c.end));
  if (!(end > begin)) return 0;
  return c.daily_budget * std::clamp((now - begin) / (end - begin), 0.0, 1.0);
}

void PacingController::Advance(int64_t now, const std::vector<Campaign>& campaigns,
                               const std::vector<double>& spent_today, const std::vector<double>& expected_today) {
  if (!options_.enabled || now < next_update_) return;
  const double elapsed = static_cast<double>(now - last_update_);
  const double day_end = static_cast<double>((day_ + 1) * kDaySeconds);
  for (size_t c = 0; c < campaigns.size(); ++c) {
    const Campaign& k = campaigns[c];
    const double end = std::min(day_end, static_cast<double>(k.end));
    const double begin = std::max(static_cast<double>(last_update_), static_cast<double>(k.start));
    const double spent = expected_today[c] - spent_at_update_[c];
    spent_at_update_[c] = expected_today[c];
    if (!(static_cast<double>(now) > begin) || !(end > static_cast<double>(now))) continue;  // not active
    const double active = std::min(elapsed, static_cast<double>(now) - begin);
    // Ratio of decayed sums (spend over rate-weighted seconds), not an average of per-interval
    // ratios: with a few impressions an hour most intervals are empty and one impression at a
    // small rate would make a ratio huge; 1 / (average of such ratios) is biased high.
    const double keep = std::exp(-active / options_.smoothing_s);
    spend_sum_[c] = keep * spend_sum_[c] + spent;
    rate_seconds_[c] = keep * rate_seconds_[c] + rate_[c] * active;
    potential_[c] = spend_sum_[c] / rate_seconds_[c];
    const double left = std::max(0.0, k.daily_budget - spent_today[c]);
    const double wanted = left / (end - static_cast<double>(now));  // spend per second from now on
    // Charged over expected so far today (5 billable events of prior): how far the pCTRs
    // behind the expected spend are off for this campaign, applied to the spend rate.
    const double prior = 5 * k.MaxCharge();
    const double calibration = (spent_today[c] + prior) / (expected_today[c] + prior);
    const double next = potential_[c] > 0 ? wanted / (potential_[c] * calibration) : 1.0;
    rate_[c] = std::clamp(std::clamp(next, rate_[c] / options_.max_change, rate_[c] * options_.max_change),
                          options_.min_rate, 1.0);
  }
  last_update_ = now;
  const int64_t interval = std::max<int64_t>(1, static_cast<int64_t>(options_.interval_s));
  next_update_ = now - (now - day_ * kDaySeconds) % interval + interval;
}

}  // namespace embark
