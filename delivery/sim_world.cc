#include "delivery/sim_world.h"

#include <algorithm>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/hash.h"

namespace embark {
namespace {

enum : int { kUser = 0, kItem, kCategory, kBrand, kPrice, kHour, kWeekday, kDevice, kRegion, kPosition, kAge, kGender };
constexpr int kAgeBuckets = 7, kRegions = 30, kDaySeconds = 86400;

// A counter-based uniform draw: the same (seed, a, b) always gives the same number.
double Uniform(uint64_t seed, uint64_t a, uint64_t b = 0) {
  return static_cast<double>(Mix64(HashCombine(HashCombine(seed, a), b)) >> 11) * 0x1.0p-53;
}

}  // namespace

Status SimWorld::Create(const SimWorldOptions& o, std::unique_ptr<SimWorld>* out) {
  if (o.num_campaigns < 1 || static_cast<int64_t>(o.num_campaigns) > o.clicks.num_items)
    return Status::InvalidArgument("the world needs between 1 and --items campaigns (one item each)");
  if (o.arrivals < 1) return Status::InvalidArgument("the world needs at least one arrival");
  if (!(o.budget_fraction > 0)) return Status::InvalidArgument("--budget_fraction must be positive");
  std::unique_ptr<SimWorld> w(new SimWorld());
  w->options_ = o;
  EMBARK_RETURN_IF_ERROR(SynthClickWorld::Create(o.clicks, &w->world_));
  const auto& fields = w->world_->fields();
  auto feature = [&](int f, uint32_t v) { return RawFeature{static_cast<uint16_t>(f), std::to_string(fields[f].first_id + v), 1}; };
  const uint64_t seed = HashCombine(o.clicks.seed, 0x73696d776f726c64ULL);

  // Arrivals: rows of gen's distribution, placed in their hour of the day.
  w->arrivals_.resize(o.arrivals);
  std::set<uint32_t> user_ids;
  for (int64_t i = 0; i < o.arrivals; ++i) {
    SimArrival& a = w->arrivals_[i];
    w->world_->DrawRow(HashCombine(seed, 1000003 + i), a.values);
    a.time = o.day * kDaySeconds + a.values[kHour] * 3600 + static_cast<int64_t>(Uniform(seed, 2, i) * 3600);
    a.user = std::to_string(fields[kUser].first_id + a.values[kUser]);
    a.values[kPosition] = 0;
    for (int f : {kHour, kWeekday, kDevice, kRegion, kPosition}) a.context.push_back(feature(f, a.values[f]));
    user_ids.insert(a.values[kUser]);
  }
  std::stable_sort(w->arrivals_.begin(), w->arrivals_.end(),
                   [](const SimArrival& x, const SimArrival& y) { return x.time < y.time; });

  w->users_ = std::make_shared<UserProfiles>();
  for (uint32_t u : user_ids) {
    uint32_t v[kSynthClickFields] = {};
    w->world_->SetUser(u, v);
    UserProfile p;
    p.id = std::to_string(fields[kUser].first_id + u);
    p.attributes.segment = "age" + std::to_string(v[kAge]);
    p.attributes.country = "r" + std::to_string(v[kRegion]);
    p.attributes.tags = {"g" + std::to_string(v[kGender]), "d" + std::to_string(v[kDevice])};
    p.features = {feature(kUser, u), feature(kAge, v[kAge]), feature(kGender, v[kGender])};
    w->users_->Add(std::move(p));
  }

  // Campaigns: distinct items by popularity (rows' items), bids, targeting, budgets.
  std::set<uint32_t> taken;
  for (uint64_t draw = 0; w->campaigns_.size() < o.num_campaigns; ++draw) {
    uint32_t v[kSynthClickFields];
    w->world_->DrawRow(HashCombine(seed, 7000001 + draw), v);
    if (draw > 100 * o.num_campaigns) v[kItem] = static_cast<uint32_t>(draw % o.clicks.num_items);  // tiny catalogues
    if (!taken.insert(v[kItem]).second) continue;
    w->world_->SetItem(v[kItem], v);
    const size_t index = w->campaigns_.size();
    Campaign c;
    c.id = "c" + std::to_string(index);
    c.item = std::to_string(fields[kItem].first_id + v[kItem]);
    c.features = {feature(kItem, v[kItem]), feature(kCategory, v[kCategory]), feature(kBrand, v[kBrand]),
                  feature(kPrice, v[kPrice])};
    c.bid = 0.2 + 1.8 * Uniform(seed, 3, index);
    c.bid_type = BidType::kCpc;
    c.start = o.day * kDaySeconds;
    c.end = c.start + kDaySeconds;
    c.frequency_cap = o.frequency_cap;
    if (Uniform(seed, 4, index) < o.segment_targeted_share) {
      std::set<int> s;
      for (int k = 0; s.size() < 3; ++k) s.insert(static_cast<int>(Uniform(seed, 5, index * 64 + k) * kAgeBuckets));
      for (int x : s) c.targeting.segments.push_back("age" + std::to_string(x));
    }
    if (Uniform(seed, 6, index) < o.country_targeted_share) {
      std::set<int> s;
      for (int k = 0; s.size() < 10; ++k) s.insert(static_cast<int>(Uniform(seed, 7, index * 64 + k) * kRegions));
      for (int x : s) c.targeting.countries.push_back("r" + std::to_string(x));
    }
    const double equal_share_clicks =
        static_cast<double>(o.arrivals) / static_cast<double>(o.num_campaigns) * o.clicks.target_positive_rate;
    c.daily_budget = o.budget_fraction * c.bid * equal_share_clicks;
    w->campaigns_.push_back(std::move(c));
    w->campaign_item_.push_back(v[kItem]);
  }
  *out = std::move(w);
  return Status::OK();
}

double SimWorld::ClickProbability(const SimArrival& a, size_t c, uint32_t slot) const {
  uint32_t v[kSynthClickFields];
  std::copy(a.values, a.values + kSynthClickFields, v);
  world_->SetItem(campaign_item_[c], v);
  v[kPosition] = std::min<uint32_t>(slot, 5);
  return world_->ClickProbability(v);
}

Status SimWorld::WriteFiles(const std::string& campaigns_path, const std::string& users_path) const {
  std::ofstream c(campaigns_path, std::ios::trunc);
  for (const Campaign& k : campaigns_) {
    nlohmann::json j = {{"id", k.id},           {"item", k.item},         {"features", RawFeaturesToJson(k.features)},
                        {"bid", k.bid},         {"bid_type", "cpc"},      {"daily_budget", k.daily_budget},
                        {"start", k.start},     {"end", k.end},           {"frequency_cap", k.frequency_cap}};
    nlohmann::json t = nlohmann::json::object();
    if (!k.targeting.segments.empty()) t["segment"] = k.targeting.segments;
    if (!k.targeting.countries.empty()) t["country"] = k.targeting.countries;
    if (!t.empty()) j["targeting"] = t;
    c << j.dump() << '\n';
  }
  c.close();
  if (!c) return Status::IoError("cannot write " + campaigns_path);
  std::ofstream u(users_path, std::ios::trunc);
  std::vector<std::string> ids;
  for (const SimArrival& a : arrivals_) ids.push_back(a.user);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (const std::string& id : ids) {
    const UserProfile* p = users_->Find(id);
    nlohmann::json j = {{"id", p->id},
                        {"segment", p->attributes.segment},
                        {"country", p->attributes.country},
                        {"tags", p->attributes.tags},
                        {"features", RawFeaturesToJson(p->features)}};
    u << j.dump() << '\n';
  }
  u.close();
  if (!u) return Status::IoError("cannot write " + users_path);
  return Status::OK();
}

}  // namespace embark
