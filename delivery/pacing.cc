#include "delivery/pacing.h"

#include <algorithm>

namespace embark {

constexpr int64_t kDaySeconds = 86400;

void PacingController::StartDay(int64_t day) {
  day_ = day;
  std::fill(rate_.begin(), rate_.end(), options_.enabled ? options_.initial_rate : 1.0);
  std::fill(spent_at_update_.begin(), spent_at_update_.end(), 0.0);
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
    const double left = std::max(0.0, k.daily_budget - spent_today[c]);
    const double desired = left * std::min(elapsed, static_cast<double>(now) - begin) / (end - static_cast<double>(now));
    double factor = spent > 0 ? desired / spent : options_.max_change;
    factor = std::clamp(factor, 1.0 / options_.max_change, options_.max_change);
    rate_[c] = std::clamp(rate_[c] * factor, options_.min_rate, 1.0);
  }
  last_update_ = now;
  const int64_t interval = std::max<int64_t>(1, static_cast<int64_t>(options_.interval_s));
  next_update_ = now - (now - day_ * kDaySeconds) % interval + interval;
}

}  // namespace embark
