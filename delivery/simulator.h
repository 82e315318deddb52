// Simulator: replays a SimWorld's day of arrivals through a Deliverer -- with its budgets,
// pacing and frequency caps -- once per delivery policy, drawing every click from the world's
// true click probability, and measures what each policy earned.
//
// Policies: "model" (a CtrScorer from a served bundle, the exploration of `auction`),
// "popularity" (PopularityCtrScorer, same exploration) and "random" (uniform over the
// eligible campaigns). Every policy sees the same arrivals, and a click is decided by the same
// uniform number for the same (arrival, campaign, slot) under every policy (common random
// numbers), so differences between policies are differences of choices, not of luck.
//
// Lift of policy A over B: per arrival, the difference of the revenue (and clicks) A and B got
// from it; the mean difference with a 95% interval (1.96 standard errors of the per-arrival
// differences), and relative to B's mean. Budgets couple arrivals, so the interval treats them
// as independent, an approximation.
//
// Latency: the wall time of every Decide call, per policy (the command reports the first).
//
// Thread-safety: Run is reentrant (it builds its own deliverers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/ctr_scorer.h"
#include "delivery/decision_log.h"
#include "delivery/deliverer.h"
#include "delivery/sim_world.h"

namespace embark {

struct SimPolicy {
  std::string name;                        // "model", "popularity", "random"
  std::shared_ptr<const CtrScorer> scorer;
  AuctionOptions auction;
  DecisionLogWriter* log = nullptr;        // optional: decisions with the world's true CTRs
};

struct SimOptions {
  PacingOptions pacing;
  size_t slots = 1;
  uint64_t seed = 1;  // deliverer draws; clicks are the world's
};

struct SimHourStats {
  uint64_t impressions = 0, clicks = 0;
  double spend = 0;
};

struct SimCampaignResult {
  std::vector<SimHourStats> hours = std::vector<SimHourStats>(24);
  std::vector<double> pass_rate = std::vector<double>(24, 1.0);  // at the end of each hour
  uint64_t impressions = 0, clicks = 0;
  double spend = 0;
};

struct SimPolicyResult {
  std::string name;
  uint64_t decisions = 0, impressions = 0, clicks = 0;
  double revenue = 0;
  std::vector<double> revenue_by_hour = std::vector<double>(24, 0.0);
  std::vector<SimCampaignResult> campaigns;
  std::vector<double> arrival_revenue;  // per arrival, for the paired lift
  std::vector<float> arrival_clicks;
  std::vector<double> latency_us;       // per Decide call
  double ExpectedCtr() const { return impressions ? static_cast<double>(clicks) / impressions : 0; }
};

struct SimLift {
  std::string policy, baseline, metric;  // metric: "revenue" or "clicks"
  double mean_difference = 0, low = 0, high = 0;  // per arrival
  double relative = 0, relative_low = 0, relative_high = 0;  // over the baseline's mean
};

Status RunSimulation(const SimWorld& world, const std::vector<SimPolicy>& policies, const SimOptions& options,
                     std::vector<SimPolicyResult>* results);

SimLift ComputeLift(const SimPolicyResult& policy, const SimPolicyResult& baseline, bool revenue);

// The q-quantile (0..1) of `values` (a copy is sorted).
double Quantile(std::vector<double> values, double q);

}  // namespace embark
