#include "scheduler/publish_guard.h"

#include <cmath>

namespace embark {

PublishGuard::Verdict PublishGuard::Judge(double loss_so_far, uint64_t examples_so_far) {
  Verdict v;
  const uint64_t interval = examples_so_far - (marks_ > 0 ? mark_examples_ : 0);
  // A short interval is judged with the one before it (see the header).
  const bool pooled = interval > 0 && has_baseline_ && marks_ >= 2 && 2 * interval < baseline_examples_;
  const double from_loss = pooled ? prev_mark_loss_ : marks_ > 0 ? mark_loss_ : 0;
  const uint64_t from_examples = pooled ? prev_mark_examples_ : marks_ > 0 ? mark_examples_ : 0;
  v.interval_examples = interval > 0 ? examples_so_far - from_examples : 0;
  if (v.interval_examples > 0) v.interval_loss = (loss_so_far - from_loss) / static_cast<double>(v.interval_examples);
  prev_mark_loss_ = mark_loss_;
  prev_mark_examples_ = mark_examples_;
  mark_loss_ = loss_so_far;
  mark_examples_ = examples_so_far;
  ++marks_;
  if (guard_ <= 0 || v.interval_examples == 0) return v;
  if (!std::isfinite(v.interval_loss)) {
    v.publish = false;
  } else if (has_baseline_) {
    v.judged = true;
    v.baseline = baseline_;
    // Written so that a NaN anywhere withholds rather than publishes.
    v.publish = v.interval_loss <= baseline_ * (1 + guard_);
  }
  if (!v.publish) ++withheld_;
  return v;
}

void PublishGuard::Published(const Verdict& verdict) {
  if (verdict.interval_examples == 0 || !std::isfinite(verdict.interval_loss)) return;
  published_.emplace_back(verdict.interval_loss * static_cast<double>(verdict.interval_examples), verdict.interval_examples);
  if (published_.size() > kBaselineIntervals) published_.pop_front();
  double loss = 0;
  uint64_t examples = 0;
  for (const auto& [l, n] : published_) {
    loss += l;
    examples += n;
  }
  has_baseline_ = true;
  baseline_ = loss / static_cast<double>(examples);
  baseline_examples_ = verdict.interval_examples;
}

}  // namespace embark
