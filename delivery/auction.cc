#include "delivery/auction.h"

#include <algorithm>
#include <cmath>

namespace embark {

Status ParseExploration(const std::string& name, Exploration* out) {
  if (name == "greedy") *out = Exploration::kGreedy;
  else if (name == "epsilon") *out = Exploration::kEpsilon;
  else if (name == "softmax") *out = Exploration::kSoftmax;
  else if (name == "uniform") *out = Exploration::kUniform;
  else return Status::InvalidArgument("--policy must be greedy, epsilon, softmax or uniform, got '" + name + "'");
  return Status::OK();
}

const char* ExplorationName(Exploration e) {
  switch (e) {
    case Exploration::kGreedy: return "greedy";
    case Exploration::kEpsilon: return "epsilon";
    case Exploration::kSoftmax: return "softmax";
    case Exploration::kUniform: return "uniform";
  }
  return "?";
}

double Ecpm(const Campaign& c, double pctr) { return c.bid_type == BidType::kCpc ? 1000.0 * pctr * c.bid : c.bid; }

void ChoiceProbabilities(const AuctionOptions& o, const std::vector<double>& ecpm, std::vector<double>* p) {
  const size_t n = ecpm.size();
  p->assign(n, 0.0);
  if (n == 0) return;
  const size_t best = static_cast<size_t>(std::max_element(ecpm.begin(), ecpm.end()) - ecpm.begin());
  const double top = ecpm[best];
  switch (o.exploration) {
    case Exploration::kGreedy:
      (*p)[best] = 1;
      return;
    case Exploration::kEpsilon:
      for (double& x : *p) x = o.epsilon / n;
      (*p)[best] += 1 - o.epsilon;
      return;
    case Exploration::kUniform:
      for (double& x : *p) x = 1.0 / n;
      return;
    case Exploration::kSoftmax: {
      if (!(top > 0)) {  // nothing is worth anything: no reason to prefer one
        for (double& x : *p) x = 1.0 / n;
        return;
      }
      double sum = 0;
      for (size_t i = 0; i < n; ++i) sum += (*p)[i] = std::exp((ecpm[i] / top - 1) / o.temperature);
      for (double& x : *p) x /= sum;  // sum >= 1: the best candidate contributes exp(0)
      return;
    }
  }
}

double PickPrice(const AuctionOptions& o, const Campaign& c, double pctr, const std::vector<double>& ecpm, size_t pick) {
  if (o.first_price) return c.bid_type == BidType::kCpc ? c.bid : c.bid / 1000.0;
  double runner_up = o.reserve_ecpm;
  for (size_t i = 0; i < ecpm.size(); ++i)
    if (i != pick) runner_up = std::max(runner_up, ecpm[i]);
  runner_up = std::min(runner_up, ecpm[pick]);  // the bid caps the price
  if (c.bid_type == BidType::kCpm) return std::min(c.bid, runner_up) / 1000.0;
  if (!(pctr > 0)) return 0;
  return std::min(c.bid, runner_up / (1000.0 * pctr));
}

}  // namespace embark
