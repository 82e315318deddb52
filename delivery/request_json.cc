#include "delivery/request_json.h"

#include <set>

#include "delivery/user_profiles.h"

namespace embark {

Status ParseDeliveryRequest(const nlohmann::json& j, const std::string& where, int64_t now, DeliveryRequest* out) {
  if (!j.is_object()) return Status::InvalidArgument(where + ": a request must be a JSON object");
  static const std::set<std::string> kKnown = {"user", "time", "context", "slots", "segment", "country", "tags",
                                               "user_features"};
  for (const auto& m : j.items())
    if (!kKnown.count(m.key())) return Status::InvalidArgument(where + ": unknown member \"" + m.key() + "\"");
  DeliveryRequest r;
  if (!j.contains("user") || !j["user"].is_string()) return Status::InvalidArgument(where + ": missing string \"user\"");
  r.user = j["user"].get<std::string>();
  r.time = now;
  if (j.contains("time")) {
    if (!j["time"].is_number_integer()) return Status::InvalidArgument(where + ": \"time\" must be integer seconds since the epoch");
    r.time = j["time"].get<int64_t>();
  }
  if (j.contains("slots")) {
    if (!j["slots"].is_number_integer() || j["slots"].get<int64_t>() < 1 || j["slots"].get<int64_t>() > 1000)
      return Status::InvalidArgument(where + ": \"slots\" must be a positive integer");
    r.slots = static_cast<size_t>(j["slots"].get<int64_t>());
  }
  if (j.contains("context")) {
    Status st = ParseRawFeatures(j["context"], "context", &r.context);
    if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  }
  if (j.contains("user_features")) {
    Status st = ParseRawFeatures(j["user_features"], "user_features", &r.user_features);
    if (!st.ok()) return Status::InvalidArgument(where + ": " + st.message());
  }
  EMBARK_RETURN_IF_ERROR(ParseUserAttributes(j, where, &r.attributes));
  *out = std::move(r);
  return Status::OK();
}

nlohmann::json DecisionToJson(const Decision& d, const std::vector<Campaign>& campaigns) {
  nlohmann::json chosen = nlohmann::json::array();
  for (const DeliveryPick& p : d.picks) {
    const Campaign& c = campaigns[p.campaign];
    double pctr = 0, ecpm = 0;
    for (const ScoredCandidate& s : d.candidates)
      if (s.campaign == p.campaign) pctr = s.pctr, ecpm = s.ecpm;
    chosen.push_back({{"slot", p.slot},
                      {"campaign", c.id},
                      {"item", c.item},
                      {"pctr", pctr},
                      {"ecpm", ecpm},
                      {"propensity", p.propensity},
                      {"price", p.price},
                      {"bid_type", c.bid_type == BidType::kCpc ? "cpc" : "cpm"}});
  }
  return {{"decision", d.id},
          {"cold_start", d.cold_start},
          {"candidates", d.candidates.size()},
          {"chosen", chosen},
          {"excluded",
           {{"out_of_flight", d.out_of_flight},
            {"not_targeted", d.not_targeted},
            {"capped", d.capped},
            {"out_of_budget", d.out_of_budget},
            {"throttled", d.throttled},
            {"below_floor", d.below_floor}}}};
}

Status ParseOutcome(const nlohmann::json& j, const std::string& where, OutcomeRequest* out) {
  if (!j.is_object()) return Status::InvalidArgument(where + ": an outcome must be a JSON object");
  static const std::set<std::string> kKnown = {"decision", "slot", "click", "conversion"};
  for (const auto& m : j.items())
    if (!kKnown.count(m.key())) return Status::InvalidArgument(where + ": unknown member \"" + m.key() + "\"");
  if (!j.contains("decision") || !j["decision"].is_number_unsigned())
    return Status::InvalidArgument(where + ": missing unsigned \"decision\"");
  OutcomeRequest o;
  o.decision = j["decision"].get<uint64_t>();
  if (j.contains("slot")) {
    if (!j["slot"].is_number_unsigned()) return Status::InvalidArgument(where + ": \"slot\" must be an unsigned integer");
    o.slot = j["slot"].get<uint32_t>();
  }
  for (const char* k : {"click", "conversion"}) {
    if (!j.contains(k)) continue;
    if (!j[k].is_number_integer() || (j[k].get<int64_t>() != 0 && j[k].get<int64_t>() != 1))
      return Status::InvalidArgument(where + ": \"" + std::string(k) + "\" must be 0 or 1");
  }
  if (!j.contains("click")) return Status::InvalidArgument(where + ": missing \"click\"");
  o.click = j["click"].get<int64_t>() == 1;
  o.conversion = j.value("conversion", 0) == 1;
  *out = o;
  return Status::OK();
}

}  // namespace embark
