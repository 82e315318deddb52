#include "delivery/deliverer.h"

#include <algorithm>
#include <cmath>

#include "core/hash.h"

namespace embark {

namespace {
constexpr int64_t kDaySeconds = 86400;
int64_t DayOf(int64_t t) { return t >= 0 ? t / kDaySeconds : -((-t + kDaySeconds - 1) / kDaySeconds); }
}  // namespace

Deliverer::Deliverer(std::vector<Campaign> campaigns, std::shared_ptr<const UserProfiles> users,
                     std::shared_ptr<const CtrScorer> scorer, const DelivererOptions& options)
    : campaigns_(std::move(campaigns)),
      users_(users ? std::move(users) : std::make_shared<UserProfiles>()),
      scorer_(std::move(scorer)),
      options_(options),
      ledger_(campaigns_.size()),
      pacing_(options.pacing, campaigns_.size()),
      history_(campaigns_.size()),
      expected_spend_(campaigns_.size(), 0.0),
      rng_state_(HashCombine(options.seed, 0x64656c6976657279ULL)) {}

double Deliverer::Uniform() {
  const uint64_t r = Mix64(rng_state_);
  rng_state_ += 0x9e3779b97f4a7c15ULL;
  return static_cast<double>(r >> 11) * 0x1.0p-53;
}

void Deliverer::StartDay(int64_t day) {
  ledger_.StartDay(day);
  pacing_.StartDay(day);
  std::fill(expected_spend_.begin(), expected_spend_.end(), 0.0);
}

Status Deliverer::Decide(const DeliveryRequest& request, const CtrScorer& scorer, Decision* d) {
  if (request.slots < 1 || request.slots > options_.max_slots)
    return Status::InvalidArgument("slots must be in [1, " + std::to_string(options_.max_slots) + "]");
  EMBARK_RETURN_IF_ERROR(scorer.CheckFeatures(request.context, "context"));
  const UserProfile* profile = users_->Find(request.user);
  if (profile == nullptr && options_.reject_unknown_users)
    return Status::NotFound("unknown user \"" + request.user + "\"");
  if (profile == nullptr) EMBARK_RETURN_IF_ERROR(scorer.CheckFeatures(request.user_features, "user_features"));

  *d = Decision();
  d->time = request.time;
  d->user = request.user;
  d->cold_start = profile == nullptr;
  const UserAttributes& attributes = profile ? profile->attributes : request.attributes;
  d->features = profile ? profile->features : request.user_features;
  d->features.insert(d->features.end(), request.context.begin(), request.context.end());

  std::lock_guard<std::mutex> lock(mu_);
  const int64_t day = DayOf(request.time);
  if (day > ledger_.day()) StartDay(day);
  pacing_.Advance(request.time, campaigns_, ledger_.spent_today(), expected_spend_);

  std::vector<uint32_t> eligible;
  for (uint32_t c = 0; c < campaigns_.size(); ++c) {
    const Campaign& k = campaigns_[c];
    if (request.time < k.start || request.time >= k.end) {
      ++d->out_of_flight;
    } else if (!MatchesTargeting(k.targeting, attributes)) {
      ++d->not_targeted;
    } else if (k.frequency_cap > 0 && ledger_.Views(request.user, c) >= k.frequency_cap) {
      ++d->capped;
    } else if (k.daily_budget - ledger_.spent_today()[c] < k.MaxCharge()) {
      ++d->out_of_budget;
    } else if (pacing_.rate(c) < 1 && Uniform() >= pacing_.rate(c)) {
      ++d->throttled;
    } else {
      eligible.push_back(c);
    }
  }
  std::vector<double> pctr(eligible.size());
  scorer.Score(d->features, eligible, history_, pctr.data());
  for (size_t i = 0; i < eligible.size(); ++i) {
    const Campaign& k = campaigns_[eligible[i]];
    const double p = std::isfinite(pctr[i]) ? std::clamp(pctr[i], 0.0, 1.0) : 0.0;
    const double e = Ecpm(k, p);
    if (p < options_.auction.quality_floor || e < options_.auction.reserve_ecpm) {
      ++d->below_floor;
      continue;
    }
    d->candidates.push_back({eligible[i], p, e, 0});
  }

  // Fill the slots in order; `remaining` indexes d->candidates.
  std::vector<size_t> remaining(d->candidates.size());
  for (size_t i = 0; i < remaining.size(); ++i) remaining[i] = i;
  std::vector<double> ecpm, prob;
  Pending pending;
  for (uint32_t slot = 0; slot < request.slots && !remaining.empty(); ++slot) {
    ecpm.clear();
    for (size_t i : remaining) ecpm.push_back(d->candidates[i].ecpm);
    ChoiceProbabilities(options_.auction, ecpm, &prob);
    if (slot == 0)
      for (size_t j = 0; j < remaining.size(); ++j) d->candidates[remaining[j]].probability = prob[j];
    const double u = Uniform();
    size_t pick = prob.size() - 1;
    double cumulative = 0;
    for (size_t j = 0; j < prob.size(); ++j) {
      cumulative += prob[j];
      if (u < cumulative && prob[j] > 0) {
        pick = j;
        break;
      }
    }
    while (prob[pick] <= 0 && pick > 0) --pick;  // rounding left u past the end
    const ScoredCandidate& chosen = d->candidates[remaining[pick]];
    const Campaign& k = campaigns_[chosen.campaign];
    const double price = PickPrice(options_.auction, k, chosen.pctr, ecpm, pick);
    d->picks.push_back({slot, chosen.campaign, prob[pick], price});
    expected_spend_[chosen.campaign] += k.bid_type == BidType::kCpc ? chosen.pctr * price : price;
    remaining.erase(remaining.begin() + static_cast<long>(pick));
  }

  d->id = next_id_++;
  for (const DeliveryPick& p : d->picks) {
    const Campaign& k = campaigns_[p.campaign];
    ledger_.RecordImpression(request.user, p.campaign, k.bid_type == BidType::kCpm ? p.price : 0.0);
    ++history_[p.campaign].impressions;
    pending.campaign.push_back(p.campaign);
    pending.price.push_back(k.bid_type == BidType::kCpc ? p.price : 0.0);
    pending.done.push_back(false);
  }
  if (!d->picks.empty()) {
    pending_.emplace(d->id, std::move(pending));
    pending_order_.push_back(d->id);
    while (pending_order_.size() > options_.remembered_decisions) {
      pending_.erase(pending_order_.front());
      pending_order_.pop_front();
    }
  }
  return Status::OK();
}

Status Deliverer::RecordOutcome(uint64_t decision_id, uint32_t slot, bool click, double* charged) {
  std::lock_guard<std::mutex> lock(mu_);
  if (charged) *charged = 0;
  auto it = pending_.find(decision_id);
  if (it == pending_.end() || slot >= it->second.campaign.size())
    return Status::NotFound("no remembered decision " + std::to_string(decision_id) + " with slot " + std::to_string(slot));
  Pending& p = it->second;
  if (p.done[slot]) return Status::InvalidArgument("decision " + std::to_string(decision_id) + " slot " +
                                                   std::to_string(slot) + " already has an outcome");
  p.done[slot] = true;
  if (click) {
    const uint32_t c = p.campaign[slot];
    ledger_.RecordClick(c, p.price[slot]);
    ++history_[c].clicks;
    if (charged) *charged = p.price[slot];
  }
  return Status::OK();
}

}  // namespace embark
