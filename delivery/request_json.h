// The JSON form of delivery requests and answers (`embark deliver` lines, POST /deliver).
//
// Request:  {"user": "u1", "time": 1767225600, "context": [[5, "h13"], ...], "slots": 1,
//            "segment": "s", "country": "FR", "tags": [...], "user_features": [[...]]}
//   "user" required (a string); "time" seconds since the epoch (default: now); "context"
//   optional features of the request; "slots" 1 by default; segment/country/tags and
//   user_features are read only for a user the profiles do not know (the cold-start path).
//   Unknown members are errors, so a misspelt "slot" is reported, not ignored.
// Answer:   {"decision": 7, "cold_start": false, "candidates": 12,
//            "chosen": [{"slot": 0, "campaign": "c3", "item": "i9", "pctr": 0.031,
//                        "ecpm": 37.2, "propensity": 0.62, "price": 0.91, "bid_type": "cpc"}],
//            "excluded": {"out_of_flight": 0, "not_targeted": 3, "capped": 1,
//                         "out_of_budget": 0, "throttled": 2, "below_floor": 0}}
// Outcome:  {"decision": 7, "slot": 0, "click": 1, "conversion": 0}
//
// Thread-safety: stateless functions.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "delivery/deliverer.h"

namespace embark {

// Errors name `where` (e.g. "requests.jsonl:4" or "body").
Status ParseDeliveryRequest(const nlohmann::json& j, const std::string& where, int64_t now, DeliveryRequest* out);
nlohmann::json DecisionToJson(const Decision& d, const std::vector<Campaign>& campaigns);

struct OutcomeRequest {
  uint64_t decision = 0;
  uint32_t slot = 0;
  bool click = false;
  bool conversion = false;
};
Status ParseOutcome(const nlohmann::json& j, const std::string& where, OutcomeRequest* out);

}  // namespace embark
