#include "delivery/off_policy.h"

#include <algorithm>
#include <unordered_map>

namespace embark {
namespace {

constexpr double kZ95 = 1.959963984540054;

OpeEstimate FromTerms(const std::vector<double>& terms) {
  OpeEstimate e;
  const double n = static_cast<double>(terms.size());
  if (terms.empty()) return e;
  double sum = 0;
  for (double t : terms) sum += t;
  e.value = sum / n;
  double ss = 0;
  for (double t : terms) ss += (t - e.value) * (t - e.value);
  const double var = terms.size() > 1 ? ss / (n - 1) : 0;
  e.stderr_ = std::sqrt(var / n);
  e.low = e.value - kZ95 * e.stderr_;
  e.high = e.value + kZ95 * e.stderr_;
  return e;
}

}  // namespace

OpeResult EstimatePolicyValue(const std::vector<OpeSample>& samples) {
  OpeResult r;
  r.n = samples.size();
  if (samples.empty()) return r;
  std::vector<double> ips, dr, w(samples.size()), rewards(samples.size());
  r.has_truth = true;
  double truth = 0, truth_logging = 0, logged = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const OpeSample& s = samples[i];
    double direct = 0;
    for (size_t a = 0; a < s.target_p.size(); ++a) direct += s.target_p[a] * s.reward_model[a];
    if (s.logged >= 0) {
      w[i] = s.target_p[s.logged] / s.logging_propensity;
      rewards[i] = s.reward;
      ips.push_back(w[i] * s.reward);
      dr.push_back(direct + w[i] * (s.reward - s.reward_model[s.logged]));
    } else {
      w[i] = 1;  // no action under any policy: a certain reward of 0
      ips.push_back(0);
      dr.push_back(0);
    }
    logged += rewards[i];
    r.max_weight = std::max(r.max_weight, w[i]);
    if (s.true_reward.size() != s.target_p.size()) {
      r.has_truth = false;
    } else {
      for (size_t a = 0; a < s.target_p.size(); ++a) {
        truth += s.target_p[a] * s.true_reward[a];
        if (a < s.logging_p.size()) truth_logging += s.logging_p[a] * s.true_reward[a];
      }
    }
  }
  const double n = static_cast<double>(samples.size());
  r.ips = FromTerms(ips);
  r.dr = FromTerms(dr);
  r.logged_value = logged / n;
  double sum_w = 0, sum_wr = 0;
  for (size_t i = 0; i < samples.size(); ++i) sum_w += w[i], sum_wr += w[i] * rewards[i];
  r.mean_weight = sum_w / n;
  r.snips.value = sum_w > 0 ? sum_wr / sum_w : 0;
  if (sum_w > 0) {
    const double mean_w = sum_w / n;
    double ss = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      const double psi = w[i] * (rewards[i] - r.snips.value) / mean_w;
      ss += psi * psi;
    }
    r.snips.stderr_ = std::sqrt(ss / n / n);
  }
  r.snips.low = r.snips.value - kZ95 * r.snips.stderr_;
  r.snips.high = r.snips.value + kZ95 * r.snips.stderr_;
  if (r.has_truth) {
    r.true_value = truth / n;
    r.true_logging_value = truth_logging / n;
  }
  return r;
}

Status BuildOpeSamples(const std::vector<LoggedDecision>& log, const std::vector<Campaign>& campaigns,
                       const CtrScorer& scorer, const AuctionOptions& target, OpeReward reward,
                       std::vector<OpeSample>* samples) {
  std::unordered_map<std::string, uint32_t> by_id;
  for (uint32_t c = 0; c < campaigns.size(); ++c) by_id[campaigns[c].id] = c;
  std::vector<CampaignHistory> no_history(campaigns.size());
  samples->clear();
  samples->reserve(log.size());
  std::vector<uint32_t> candidates;
  std::vector<double> pctr, ecpm, p;
  for (const LoggedDecision& d : log) {
    OpeSample s;
    candidates.clear();
    for (const std::string& id : d.candidates) {
      auto it = by_id.find(id);
      if (it == by_id.end()) return Status::InvalidArgument(d.source + ": candidate campaign \"" + id + "\" is not in the campaigns file");
      candidates.push_back(it->second);
    }
    const size_t n = candidates.size();
    if (n > 0 && d.picks.empty()) return Status::InvalidArgument(d.source + ": candidates but no pick");
    if (n == 0) {
      samples->push_back(std::move(s));
      continue;
    }
    pctr.assign(n, 0);
    scorer.Score(d.features, candidates, no_history, pctr.data());
    // The new policy chooses among the logged candidates that pass its own floor and reserve.
    std::vector<size_t> kept;
    ecpm.clear();
    for (size_t a = 0; a < n; ++a) {
      const Campaign& c = campaigns[candidates[a]];
      const double e = Ecpm(c, std::clamp(pctr[a], 0.0, 1.0));
      if (pctr[a] >= target.quality_floor && e >= target.reserve_ecpm) {
        kept.push_back(a);
        ecpm.push_back(e);
      }
    }
    ChoiceProbabilities(target, ecpm, &p);
    s.target_p.assign(n, 0);
    for (size_t j = 0; j < kept.size(); ++j) s.target_p[kept[j]] = p[j];
    const LoggedPick& pick = d.picks[0];
    for (size_t a = 0; a < n; ++a)
      if (d.candidates[a] == pick.campaign) s.logged = static_cast<long>(a);
    if (s.logged < 0) return Status::InvalidArgument(d.source + ": the chosen campaign is not among the candidates");
    s.logging_propensity = pick.propensity;
    s.logging_p = d.p;
    auto value_of = [&](size_t a, double click_probability) {
      const Campaign& c = campaigns[candidates[a]];
      if (reward == OpeReward::kClicks) return click_probability;
      return c.bid_type == BidType::kCpc ? click_probability * c.bid : c.bid / 1000.0;
    };
    s.reward_model.resize(n);
    for (size_t a = 0; a < n; ++a) s.reward_model[a] = value_of(a, std::clamp(pctr[a], 0.0, 1.0));
    s.reward = value_of(static_cast<size_t>(s.logged), pick.click == 1 ? 1.0 : 0.0);
    if (!d.true_ctr.empty()) {
      s.true_reward.resize(n);
      for (size_t a = 0; a < n; ++a) s.true_reward[a] = value_of(a, d.true_ctr[a]);
    }
    samples->push_back(std::move(s));
  }
  return Status::OK();
}

}  // namespace embark
