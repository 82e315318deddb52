// PublishGuard: decides whether a new serving version may replace the one published last
// (`train --publish_guard`), from the loss of the examples trained between the two.
//
// Every example's loss is computed before the step that trains on it (progressive
// validation), so the mean loss of the examples since the last publish attempt says how the
// model did on data it had not seen. A version whose interval is worse than the baseline by
// more than the guard fraction is withheld; the baseline is the mean loss over the intervals of
// the last three versions published (one lucky interval alone would make the next ordinary ones
// look bad: on clean clicks, intervals of 650 events vary by +-8 %). So a burst of
// bad labels or a broken upstream feature does not reach serving, and the last good version
// keeps serving. The withheld version's successor is judged on its own interval, against the
// same baseline. An interval of fewer than half as many examples as the baseline's (the last
// checkpoint of a stream that ended, say) is too noisy to judge alone: it is judged together
// with the interval before it. A version whose interval loss is not a finite number (a diverged model) is
// never published while the guard is on, whatever the baseline; the first version (and the
// first after a resume: a new guard) has no baseline and is otherwise published.
//
// Thread-safety: none; the scheduler's thread owns it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>

namespace embark {

class PublishGuard {
 public:
  // `guard`: the fraction (0 turns the guard off: every version is published).
  explicit PublishGuard(double guard) : guard_(guard) {}

  struct Verdict {
    bool publish = true;
    bool judged = false;            // compared against a baseline
    uint64_t interval_examples = 0;  // the examples judged: the interval, or the last two
    double interval_loss = 0;       // their mean loss (0 when there are none)
    double baseline = 0;            // the published version's interval loss, when judged
  };

  // A version is about to be published. `loss_so_far` and `examples_so_far` are running
  // totals from any origin fixed for the job (only their differences between calls count).
  // Every call starts a new interval, published or not.
  Verdict Judge(double loss_so_far, uint64_t examples_so_far);

  // The version of `verdict` was published: its interval joins the baseline (an empty or
  // non-finite one does not).
  void Published(const Verdict& verdict);

  uint64_t withheld() const { return withheld_; }

 private:
  const double guard_;
  // The running totals at the last call, and at the call before it.
  int marks_ = 0;
  double mark_loss_ = 0, prev_mark_loss_ = 0;
  uint64_t mark_examples_ = 0, prev_mark_examples_ = 0;
  // The last kBaselineIntervals published intervals: loss sums and example counts.
  static constexpr size_t kBaselineIntervals = 3;
  std::deque<std::pair<double, uint64_t>> published_;
  bool has_baseline_ = false;
  double baseline_ = 0;
  uint64_t baseline_examples_ = 0;  // of the last published interval
  uint64_t withheld_ = 0;
};

}  // namespace embark
