// Auction: ranks the eligible campaigns of one request by expected value, picks the slots with
// an exploration policy, and prices each pick.
//
// Value. eCPM (expected revenue per thousand impressions) = 1000 * pCTR * bid for a cpc bid,
// and the bid itself for a cpm bid. Before the choice, candidates whose pCTR is below the
// quality floor or whose eCPM is below the reserve price are dropped.
//
// Exploration (the choice of ONE slot among the remaining candidates; slots are filled in
// order, each pick removed before the next, so a slot's propensity is conditional on the
// picks above it):
//   greedy      the highest eCPM (ties: the earlier candidate), probability 1
//   epsilon     with probability 1 - epsilon the highest eCPM, else uniform over all:
//               P(best) = 1 - epsilon + epsilon / n, P(other) = epsilon / n
//   softmax     P(i) proportional to exp((eCPM_i / eCPM_max - 1) / temperature): the
//               temperature is relative to the best eCPM, so it means the same for any bid
//               scale (0.1: a candidate at 90% of the best eCPM is e^-1 as likely)
//   uniform     1 / n whatever the scores (the "random" baseline)
// Every candidate keeps a positive probability under epsilon (> 0), softmax and uniform, which
// off-policy evaluation of another policy on the logs needs.
//
// Price (second price): the pick pays the highest eCPM among the other candidates still in
// the slot's auction, or the reserve if that is higher, never more than its own bid: per
// click for cpc (that eCPM / (1000 pCTR)), per impression for cpm (that eCPM / 1000). For the
// top candidate that is the classic second price; a candidate picked by exploration over a
// better one pays its bid. With first_price the pick pays its bid.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/campaign.h"

namespace embark {

enum class Exploration { kGreedy, kEpsilon, kSoftmax, kUniform };

// "greedy", "epsilon", "softmax", "uniform".
Status ParseExploration(const std::string& name, Exploration* out);
const char* ExplorationName(Exploration e);

struct AuctionOptions {
  Exploration exploration = Exploration::kSoftmax;
  double epsilon = 0.1;        // kEpsilon
  double temperature = 0.1;    // kSoftmax, relative to the best eCPM
  double quality_floor = 0;    // minimum pCTR
  double reserve_ecpm = 0;     // minimum eCPM, and the floor of second prices
  bool first_price = false;
};

double Ecpm(const Campaign& c, double pctr);

// Probabilities of picking each of `ecpm` (all candidates of one slot) under `options`;
// they sum to 1. Empty input gives empty output.
void ChoiceProbabilities(const AuctionOptions& options, const std::vector<double>& ecpm, std::vector<double>* p);

// What the pick pays per billable event (click for cpc, impression for cpm) when candidate
// `pick` wins among `ecpm` (the slot's remaining candidates, the pick included).
double PickPrice(const AuctionOptions& options, const Campaign& campaign, double pctr, const std::vector<double>& ecpm,
                 size_t pick);

}  // namespace embark
