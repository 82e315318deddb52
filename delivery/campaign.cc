#include "delivery/campaign.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

namespace embark {
namespace {

using nlohmann::json;

Status ParseTime(const json& j, const std::string& where, int64_t* out) {
  if (j.is_number_integer()) {
    *out = j.get<int64_t>();
    return Status::OK();
  }
  if (j.is_string() && ParseUtcTime(j.get<std::string>(), out)) return Status::OK();
  return Status::InvalidArgument(where + " must be seconds since the epoch or \"YYYY-MM-DDTHH:MM:SSZ\"");
}

}  // namespace

bool ParseUtcTime(const std::string& text, int64_t* seconds) {
  struct tm tm = {};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return false;
  *seconds = static_cast<int64_t>(timegm(&tm));
  return true;
}

Status ParseCampaign(const std::string& line, const std::string& source, Campaign* out) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(source + ": not a JSON object");
  if (!j.is_object()) return Status::InvalidArgument(source + ": a campaign must be a JSON object");
  static const std::set<std::string> kKnown = {"id", "features", "item", "bid", "bid_type", "daily_budget",
                                               "start", "end", "targeting", "frequency_cap"};
  for (const auto& m : j.items())
    if (!kKnown.count(m.key())) return Status::InvalidArgument(source + ": unknown member \"" + m.key() + "\"");
  for (const char* required : {"id", "features", "bid", "bid_type", "daily_budget", "start", "end"})
    if (!j.contains(required)) return Status::InvalidArgument(source + ": missing \"" + required + "\"");
  Campaign c;
  if (!j["id"].is_string() || j["id"].get<std::string>().empty())
    return Status::InvalidArgument(source + ": \"id\" must be a non-empty string");
  c.id = j["id"].get<std::string>();
  const std::string at = source + ": campaign " + c.id + ": ";
  Status st = ParseRawFeatures(j["features"], "\"features\"", &c.features);
  if (!st.ok()) return Status::InvalidArgument(at + st.message());
  if (c.features.empty()) return Status::InvalidArgument(at + "\"features\" is empty (nothing to score)");
  if (j.contains("item")) {
    if (!j["item"].is_string()) return Status::InvalidArgument(at + "\"item\" must be a string");
    c.item = j["item"].get<std::string>();
  }
  if (!j["bid"].is_number() || !(j["bid"].get<double>() > 0) || !std::isfinite(j["bid"].get<double>()))
    return Status::InvalidArgument(at + "\"bid\" must be a positive number");
  c.bid = j["bid"].get<double>();
  const std::string type = j["bid_type"].is_string() ? j["bid_type"].get<std::string>() : "";
  if (type == "cpc")
    c.bid_type = BidType::kCpc;
  else if (type == "cpm")
    c.bid_type = BidType::kCpm;
  else
    return Status::InvalidArgument(at + "\"bid_type\" must be \"cpc\" or \"cpm\"");
  if (!j["daily_budget"].is_number() || !std::isfinite(j["daily_budget"].get<double>()))
    return Status::InvalidArgument(at + "\"daily_budget\" must be a number");
  c.daily_budget = j["daily_budget"].get<double>();
  if (c.daily_budget < 0) return Status::InvalidArgument(at + "\"daily_budget\" is negative");
  st = ParseTime(j["start"], "\"start\"", &c.start);
  if (st.ok()) st = ParseTime(j["end"], "\"end\"", &c.end);
  if (!st.ok()) return Status::InvalidArgument(at + st.message());
  if (c.end <= c.start) return Status::InvalidArgument(at + "\"end\" is not after \"start\"");
  if (j.contains("targeting")) {
    const json& t = j["targeting"];
    if (!t.is_object()) return Status::InvalidArgument(at + "\"targeting\" must be an object");
    for (const auto& rule : t.items()) {
      std::vector<std::string>* list = rule.key() == "segment"   ? &c.targeting.segments
                                       : rule.key() == "country" ? &c.targeting.countries
                                       : rule.key() == "tags"    ? &c.targeting.tags
                                                                 : nullptr;
      if (list == nullptr)
        return Status::InvalidArgument(at + "unknown targeting field \"" + rule.key() +
                                       "\" (segment, country, tags)");
      st = ParseStringList(rule.value(), "targeting." + rule.key(), list);
      if (!st.ok()) return Status::InvalidArgument(at + st.message());
      if (list->empty()) return Status::InvalidArgument(at + "targeting." + rule.key() + " is empty (matches nobody)");
    }
  }
  if (j.contains("frequency_cap")) {
    const json& f = j["frequency_cap"];
    if (!f.is_number_integer() || f.get<int64_t>() < 0 || f.get<int64_t>() > 1000000)
      return Status::InvalidArgument(at + "\"frequency_cap\" must be an integer in [0, 1000000]");
    c.frequency_cap = static_cast<uint32_t>(f.get<int64_t>());
  }
  *out = std::move(c);
  return Status::OK();
}

Status LoadCampaigns(const std::string& path, std::vector<Campaign>* out) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot open campaigns file " + path);
  out->clear();
  std::set<std::string> ids;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string source = path + ":" + std::to_string(number);
    Campaign c;
    EMBARK_RETURN_IF_ERROR(ParseCampaign(line, source, &c));
    if (!ids.insert(c.id).second) return Status::InvalidArgument(source + ": duplicate campaign id \"" + c.id + "\"");
    out->push_back(std::move(c));
  }
  if (in.bad()) return Status::IoError("cannot read campaigns file " + path);
  if (out->empty()) return Status::InvalidArgument(path + ": no campaigns");
  return Status::OK();
}

bool MatchesTargeting(const Targeting& t, const UserAttributes& user) {
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  if (!t.segments.empty() && !has(t.segments, user.segment)) return false;
  if (!t.countries.empty() && !has(t.countries, user.country)) return false;
  if (!t.tags.empty()) {
    bool any = false;
    for (const std::string& tag : user.tags) any = any || has(t.tags, tag);
    if (!any) return false;
  }
  return true;
}

}  // namespace embark
