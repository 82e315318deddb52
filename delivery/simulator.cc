#include "delivery/simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/hash.h"

namespace embark {
namespace {

constexpr double kZ95 = 1.959963984540054;

double ClickDraw(uint64_t seed, uint64_t arrival, uint64_t campaign, uint64_t slot) {
  return static_cast<double>(Mix64(HashCombine(HashCombine(HashCombine(seed, arrival), campaign), slot)) >> 11) *
         0x1.0p-53;
}

}  // namespace

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

Status RunSimulation(const SimWorld& world, const std::vector<SimPolicy>& policies, const SimOptions& options,
                     std::vector<SimPolicyResult>* results) {
  results->clear();
  const uint64_t click_seed = HashCombine(world.options().clicks.seed, 0x636c69636b73ULL);
  const int64_t day_start = world.options().day * 86400;
  const auto& campaigns = world.campaigns();
  for (const SimPolicy& policy : policies) {
    DelivererOptions d;
    d.auction = policy.auction;
    d.pacing = options.pacing;
    d.seed = HashCombine(options.seed, HashBytes(policy.name));
    Deliverer deliverer(campaigns, world.users(), policy.scorer, d);
    SimPolicyResult r;
    r.name = policy.name;
    r.campaigns.resize(campaigns.size());
    r.arrival_revenue.assign(world.arrivals().size(), 0);
    r.arrival_clicks.assign(world.arrivals().size(), 0);
    r.latency_us.reserve(world.arrivals().size());
    int last_hour = 0;
    std::vector<double> true_ctr;
    for (size_t i = 0; i < world.arrivals().size(); ++i) {
      const SimArrival& a = world.arrivals()[i];
      const int hour = static_cast<int>(std::clamp<int64_t>((a.time - day_start) / 3600, 0, 23));
      for (; last_hour < hour; ++last_hour)
        for (size_t c = 0; c < campaigns.size(); ++c) r.campaigns[c].pass_rate[last_hour] = deliverer.pass_rate(c);
      DeliveryRequest q;
      q.user = a.user;
      q.time = a.time;
      q.context = a.context;
      q.slots = options.slots;
      Decision decision;
      const auto t0 = std::chrono::steady_clock::now();
      Status st = deliverer.Decide(q, &decision);
      const auto t1 = std::chrono::steady_clock::now();
      if (!st.ok()) return Status::InvalidArgument("arrival " + std::to_string(i) + ": " + st.ToString());
      r.latency_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      ++r.decisions;
      if (policy.log != nullptr) {
        true_ctr.clear();
        for (const ScoredCandidate& c : decision.candidates) true_ctr.push_back(world.ClickProbability(a, c.campaign, 0));
        EMBARK_RETURN_IF_ERROR(policy.log->WriteDecision(decision, campaigns, policy.auction.exploration, &true_ctr));
      }
      for (const DeliveryPick& p : decision.picks) {
        const bool click = ClickDraw(click_seed, i, p.campaign, p.slot) < world.ClickProbability(a, p.campaign, p.slot);
        double charged = 0;
        EMBARK_RETURN_IF_ERROR(deliverer.RecordOutcome(decision.id, p.slot, click, &charged));
        if (policy.log != nullptr) EMBARK_RETURN_IF_ERROR(policy.log->WriteOutcome(decision.id, p.slot, click, false, a.time));
        SimCampaignResult& c = r.campaigns[p.campaign];
        ++c.impressions;
        ++c.hours[hour].impressions;
        ++r.impressions;
        if (click) {
          ++c.clicks;
          ++c.hours[hour].clicks;
          ++r.clicks;
          r.arrival_clicks[i] += 1;
        }
        const double cost = click ? charged : 0.0;
        c.spend += cost;
        c.hours[hour].spend += cost;
        r.revenue += cost;
        r.revenue_by_hour[hour] += cost;
        r.arrival_revenue[i] += cost;
      }
    }
    for (; last_hour < 24; ++last_hour)
      for (size_t c = 0; c < campaigns.size(); ++c) r.campaigns[c].pass_rate[last_hour] = deliverer.pass_rate(c);
    results->push_back(std::move(r));
  }
  return Status::OK();
}

SimLift ComputeLift(const SimPolicyResult& a, const SimPolicyResult& b, bool revenue) {
  SimLift l;
  l.policy = a.name;
  l.baseline = b.name;
  l.metric = revenue ? "revenue" : "clicks";
  const size_t n = std::min(a.arrival_revenue.size(), b.arrival_revenue.size());
  if (n < 2) return l;
  double sum = 0, sum_b = 0;
  std::vector<double> diff(n);
  for (size_t i = 0; i < n; ++i) {
    diff[i] = revenue ? a.arrival_revenue[i] - b.arrival_revenue[i] : double{a.arrival_clicks[i]} - b.arrival_clicks[i];
    sum += diff[i];
    sum_b += revenue ? b.arrival_revenue[i] : b.arrival_clicks[i];
  }
  const double mean = sum / n;
  double ss = 0;
  for (double d : diff) ss += (d - mean) * (d - mean);
  const double se = std::sqrt(ss / (n - 1) / n);
  l.mean_difference = mean;
  l.low = mean - kZ95 * se;
  l.high = mean + kZ95 * se;
  const double base = sum_b / n;
  if (base > 0) {
    l.relative = mean / base;
    l.relative_low = l.low / base;
    l.relative_high = l.high / base;
  }
  return l;
}

}  // namespace embark
