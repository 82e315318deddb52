#include "scheduler/publish_guard.h"

#include <cmath>

namespace embark {

PublishGuard::Verdict PublishGuard::Judge(double loss_so_far, uint64_t examples_so_far) {
  Verdict v;
  v.interval_examples = examples_so_far - (marked_ ? mark_examples_ : 0);
  if (v.interval_examples > 0)
    v.interval_loss = (loss_so_far - (marked_ ? mark_loss_ : 0)) / static_cast<double>(v.interval_examples);
  marked_ = true;
  mark_loss_ = loss_so_far;
  mark_examples_ = examples_so_far;
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
  has_baseline_ = true;
  baseline_ = verdict.interval_loss;
}

}  // namespace embark
