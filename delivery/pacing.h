// PacingController: spreads each campaign's daily budget over the rest of its day by
// probabilistic throttling (as in Agarwal et al., "Budget Pacing for Targeted Online
// Advertisements at LinkedIn", KDD 2014), with the pass-through rate steered by a feedback
// controller on the spend rate.
//
// Every campaign has a pass-through rate r in [min_rate, 1]: an eligible request includes the
// campaign in its auction with probability r (the draw is the deliverer's). Every `interval_s`
// seconds of request time the controller
//   1. measures the campaign's spend rate in the interval just ended per unit of pass-through
//      rate: its EXPECTED spend s (each impression adds pCTR * price for cpc, its price for cpm;
//      clicks are rare, and counting a few per interval would make the estimate jump) over
//      r * elapsed seconds -- what the campaign would spend per second at r = 1;
//   2. smooths it: the ratio of exponentially decayed sums (time constant `smoothing_s`) of
//      expected spend and of rate-weighted seconds -- with a few impressions an hour most
//      intervals have none, and an average of per-interval ratios would be dominated by the
//      rare interval with one impression at a small rate;
//   3. corrects it by the campaign's charged-over-expected spend so far today (with a prior of
//      5 billable events at the bid): pCTRs that are off for a campaign show up there;
//   4. sets the rate that spends the ACTUAL remaining budget evenly over the rest of the
//      campaign's active part of the day (within the day and within the flight):
//        r <- (budget - spent today) / (seconds left) / (smoothed spend per second at r = 1)
//      the change limited to a factor of max_change per update, r kept in [min_rate, 1].
// A demand spike raises the measured spend and the rate falls within a few intervals; at quiet
// hours the rate rises to 1; the target always looks at the budget actually left, so a biased
// pCTR is corrected as the day goes and the day ends on budget whenever demand allows.
// Rates start each day at `initial_rate`. With pacing disabled every rate is 1 (campaigns
// spend as fast as they win, until the budget guard stops them).
//
// Thread-safety: none; the deliverer calls it under its lock.
#pragma once

#include <cstdint>
#include <vector>

#include "delivery/campaign.h"

namespace embark {

struct PacingOptions {
  bool enabled = true;
  double interval_s = 60;
  double max_change = 2;    // most a rate changes per update, as a factor
  double smoothing_s = 900; // time constant of the spend-rate average
  double min_rate = 0.001;
  double initial_rate = 1.0;
};

class PacingController {
 public:
  PacingController(const PacingOptions& options, size_t num_campaigns)
      : options_(options),
        rate_(num_campaigns, options.enabled ? options.initial_rate : 1.0),
        spent_at_update_(num_campaigns, 0.0),
        potential_(num_campaigns, -1.0),
        spend_sum_(num_campaigns, 0.0),
        rate_seconds_(num_campaigns, 0.0) {}

  // Starts day `day` (days since the epoch, UTC): rates back to the initial rate.
  void StartDay(int64_t day);
  // Brings the rates up to `now`: one update when an interval boundary has passed since the
  // last (after a gap with no requests the spend did not change in between).
  // `spent_today`: charged so far today; `expected_today`: the expected spend of today's
  // impressions (see above).
  void Advance(int64_t now, const std::vector<Campaign>& campaigns, const std::vector<double>& spent_today,
               const std::vector<double>& expected_today);
  double rate(size_t campaign) const { return rate_[campaign]; }
  // The budget campaign `c` would have spent by `now` of day `day` spending evenly over its
  // active part of the day (what the hourly report compares with).
  static double Target(const Campaign& c, int64_t day, double now);

 private:
  PacingOptions options_;
  std::vector<double> rate_;
  std::vector<double> spent_at_update_;
  std::vector<double> potential_;  // smoothed expected spend per second at rate 1; < 0: none yet
  std::vector<double> spend_sum_, rate_seconds_;  // its decayed numerator and denominator
  int64_t day_ = INT64_MIN;
  int64_t last_update_ = 0;
  int64_t next_update_ = INT64_MIN;
};

}  // namespace embark
