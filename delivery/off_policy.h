// Off-policy evaluation: what click rate (and revenue) a NEW delivery policy would have got on
// traffic that another policy served, estimated from the decision log's propensities.
//
// Per logged request i: the logging policy picked action a_i (slot 0) with propensity
// mu_i = mu(a_i | x_i) and got reward r_i; the new policy would pick candidate a with
// probability pi(a | x_i); w_i = pi(a_i | x_i) / mu_i; qhat(x, a) is the new model's own
// prediction of the reward. Over n requests:
//   IPS      V = 1/n sum w_i r_i
//   SNIPS    V = sum w_i r_i / sum w_i
//   DR       V = 1/n sum [ sum_a pi(a|x_i) qhat(x_i, a) + w_i (r_i - qhat(x_i, a_i)) ]
// 95% intervals: V +- 1.96 * standard error; IPS and DR from the sample variance of their
// per-request terms, SNIPS by the delta method (terms w_i (r_i - V) / mean(w)).
// A request with no candidates has reward 0 under every policy (a term of 0).
//
// Rewards: "clicks" r = click on slot 0 (the policy's click rate per request);
// "revenue" r = click * bid for a cpc pick, bid / 1000 for a cpm pick (revenue at the bid:
// what the policy would earn under first-price charging; second-price charges are at most
// this). When the log carries the simulator's true click probabilities, the true value of
// both policies, sum_a pi(a|x_i) E[r | x_i, a], is reported too.
//
// Thread-safety: stateless functions.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/auction.h"
#include "delivery/campaign.h"
#include "delivery/ctr_scorer.h"
#include "delivery/decision_log.h"

namespace embark {

struct OpeSample {
  std::vector<double> target_p;      // pi(a | x) per candidate
  std::vector<double> reward_model;  // qhat(x, a) per candidate
  long logged = -1;                  // index of the logged pick; -1: no candidates
  double logging_propensity = 1;
  double reward = 0;
  std::vector<double> true_reward;   // E[r | x, a] per candidate, when known
  std::vector<double> logging_p;     // mu(a | x) per candidate (the logged "p")
};

struct OpeEstimate {
  double value = 0, low = 0, high = 0, stderr_ = 0;
};

struct OpeResult {
  uint64_t n = 0;
  OpeEstimate ips, snips, dr;
  double mean_weight = 0, max_weight = 0;
  double logged_value = 0;              // mean reward the logging policy got
  bool has_truth = false;
  double true_value = NAN;              // of the new policy
  double true_logging_value = NAN;      // of the logging policy
};

OpeResult EstimatePolicyValue(const std::vector<OpeSample>& samples);

enum class OpeReward { kClicks, kRevenue };

// Samples of `log` for the policy `target` with pCTRs from `scorer`. InvalidArgument naming the
// decision's line for a candidate the campaigns do not hold.
Status BuildOpeSamples(const std::vector<LoggedDecision>& log, const std::vector<Campaign>& campaigns,
                       const CtrScorer& scorer, const AuctionOptions& target, OpeReward reward,
                       std::vector<OpeSample>* samples);

}  // namespace embark
