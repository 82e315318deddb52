// Deliverer: answers delivery requests -- which campaigns one user sees in which slots -- and
// books what they cost. For each request:
//   1. the day rolls over if the request is on a later UTC day (budgets, caps, pacing reset);
//   2. eligibility: the campaign is in flight, its targeting matches the user, the user has
//      seen it fewer than frequency_cap times today, it has at least one billable event's
//      price (Campaign::MaxCharge) of budget left, and it passes its pacing throttle draw;
//   3. the scorer gives each eligible campaign a pCTR and the auction (delivery/auction.h)
//      drops those under the quality floor / reserve, then fills the slots with the
//      exploration policy and prices each pick;
//   4. the picks are booked (impressions, caps; cpm charges at once) and remembered so the
//      click outcome can be booked later (RecordOutcome: the cpc charge).
// Users: a user listed in the profiles is scored with its profile features and targeted on its
// attributes. An unknown user is served on the cold-start path (the request's own user
// features and attributes, if any; a campaign with a targeting rule the request gives no
// value for is not eligible) or, with reject_unknown_users, refused with NotFound (HTTP 404).
//
// Overspend. A campaign is eligible only while its remaining budget covers one more billable
// event at its bid (prices never exceed the bid), so when every outcome is recorded before the
// next decision (the simulator) a campaign never ends above its budget. When clicks arrive
// later, impressions shown meanwhile may still click: each such click can take the campaign
// past its budget by at most its price.
//
// Thread-safety: Decide and RecordOutcome may be called from any threads; they are serialised
// by one lock (budgets, caps and the random stream are shared state). The accessors marked
// "quiescent" read that state without the lock: call them when no decision is running.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "delivery/auction.h"
#include "delivery/budget_ledger.h"
#include "delivery/campaign.h"
#include "delivery/ctr_scorer.h"
#include "delivery/pacing.h"
#include "delivery/raw_feature.h"
#include "delivery/user_profiles.h"

namespace embark {

struct DeliveryRequest {
  std::string user;
  int64_t time = 0;                      // seconds since the epoch
  std::vector<RawFeature> context;       // request features (hour, device, page...)
  size_t slots = 1;
  // Cold start only (ignored for a known user): what the request says about the user.
  UserAttributes attributes;
  std::vector<RawFeature> user_features;
};

struct ScoredCandidate {
  uint32_t campaign = 0;  // index into the deliverer's campaigns
  double pctr = 0;
  double ecpm = 0;
  double probability = 0;  // of being picked for slot 0
};

struct DeliveryPick {
  uint32_t slot = 0;
  uint32_t campaign = 0;
  double propensity = 0;  // P(this pick | the picks of the slots above)
  double price = 0;       // per click (cpc) or per impression (cpm)
};

struct Decision {
  uint64_t id = 0;
  int64_t time = 0;
  std::string user;
  bool cold_start = false;
  std::vector<RawFeature> features;          // user + context features the scorer saw
  std::vector<ScoredCandidate> candidates;   // after floor and reserve
  std::vector<DeliveryPick> picks;           // one per filled slot, slot order
  // Why campaigns were not candidates.
  uint32_t out_of_flight = 0, not_targeted = 0, capped = 0, out_of_budget = 0, throttled = 0, below_floor = 0;
};

struct DelivererOptions {
  AuctionOptions auction;
  PacingOptions pacing;
  uint64_t seed = 1;
  bool reject_unknown_users = false;
  size_t max_slots = 10;
  size_t remembered_decisions = 1 << 20;  // outcomes of older decisions are refused
};

class Deliverer {
 public:
  Deliverer(std::vector<Campaign> campaigns, std::shared_ptr<const UserProfiles> users,
            std::shared_ptr<const CtrScorer> scorer, const DelivererOptions& options);

  // InvalidArgument for a bad request (slots, features the scorer cannot read); NotFound for an
  // unknown user with reject_unknown_users.
  Status Decide(const DeliveryRequest& request, Decision* decision) { return Decide(request, *scorer_, decision); }
  // The same with another scorer (a hot-swapped model version; `scorer` may be null in the
  // constructor when every call passes one).
  Status Decide(const DeliveryRequest& request, const CtrScorer& scorer, Decision* decision);
  // Books the outcome of slot `slot` of decision `decision_id`: a click charges a cpc pick its
  // price (*charged gets it). NotFound for a decision not remembered or a slot it did not fill;
  // InvalidArgument for a second outcome of the same pick.
  Status RecordOutcome(uint64_t decision_id, uint32_t slot, bool click, double* charged = nullptr);

  const std::vector<Campaign>& campaigns() const { return campaigns_; }
  // Quiescent: the ledger and the pacing rates.
  const BudgetLedger& ledger() const { return ledger_; }
  double pass_rate(size_t campaign) const { return pacing_.rate(campaign); }

 private:
  struct Pending {
    std::vector<uint32_t> campaign;  // per slot
    std::vector<double> price;
    std::vector<bool> done;
  };
  double Uniform();
  void StartDay(int64_t day);

  const std::vector<Campaign> campaigns_;
  const std::shared_ptr<const UserProfiles> users_;
  const std::shared_ptr<const CtrScorer> scorer_;
  const DelivererOptions options_;

  std::mutex mu_;  // guards everything below
  BudgetLedger ledger_;
  PacingController pacing_;
  std::vector<CampaignHistory> history_;
  std::vector<double> expected_spend_;  // today: pCTR * price per cpc impression, price per cpm one
  uint64_t rng_state_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Pending> pending_;
  std::deque<uint64_t> pending_order_;
};

}  // namespace embark
