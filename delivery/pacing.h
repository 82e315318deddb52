// PacingController: spreads each campaign's daily budget over the rest of its day by
// probabilistic throttling (as in Agarwal et al., "Budget Pacing for Targeted Online
// Advertisements at LinkedIn", KDD 2014), with the pass-through rate steered by a feedback
// controller on the spend rate.
//
// Every campaign has a pass-through rate r in [min_rate, 1]: an eligible request includes the
// campaign in its auction with probability r (the draw is the deliverer's). Every `interval_s`
// seconds of request time the controller compares the campaign's EXPECTED spend in the
// interval just ended, s (each impression adds pCTR * price for cpc, its price for cpm: clicks
// are rare, and a count of a few clicks per interval would make the rate a random walk), with
// what it should spend per interval from now on to finish its ACTUAL remaining budget exactly
// at the end of its active part of the day (within the day and within the flight):
//   desired = (budget - spent today) * interval / (seconds of the active part left)
// and corrects the rate multiplicatively, r <- clamp(r * desired / s), the factor limited to
// [1 / max_change, max_change] so one noisy interval cannot swing it far (s = 0: r * max_change).
// A proportional controller on the spend rate: a demand spike raises s and the rate falls
// within a few intervals; a campaign behind (little spend at quiet hours) gets a larger desired
// rate and catches up when traffic returns; the target always looks at the budget actually
// left, so a biased pCTR is corrected as the day goes and the day ends on budget whenever
// demand allows.
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
  double min_rate = 0.001;
  double initial_rate = 1.0;
};

class PacingController {
 public:
  PacingController(const PacingOptions& options, size_t num_campaigns)
      : options_(options),
        rate_(num_campaigns, options.enabled ? options.initial_rate : 1.0),
        spent_at_update_(num_campaigns, 0.0) {}

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
  int64_t day_ = INT64_MIN;
  int64_t last_update_ = 0;
  int64_t next_update_ = INT64_MIN;
};

}  // namespace embark
