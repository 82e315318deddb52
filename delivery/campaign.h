// Campaigns: what can be delivered -- the promoted item's features, the bid, the daily budget,
// the flight (start/end), who may see it (targeting) and how often (frequency cap) -- and the
// loader of a campaigns file.
//
// File format: JSON Lines, one campaign object per line (blank lines and lines starting with
// '#' are skipped). Members:
//   "id"            string, unique in the file                                       required
//   "features"      [[field, "id"], ...] or [[field, "id", value], ...]: the creative /  required
//                   promoted item's features, hashed as the trainers do (FeatureKey)
//   "item"          string: the promoted item's raw id (informational; logged)          optional
//   "bid"           number > 0: price per click (cpc) or per thousand impressions (cpm) required
//   "bid_type"      "cpc" or "cpm"                                                     required
//   "daily_budget"  number >= 0: most spent per UTC day (a calendar day of request time) required
//   "start", "end"  the flight: seconds since the epoch (number) or "YYYY-MM-DDTHH:MM:SSZ";
//                   served when start <= time < end                                    required
//   "targeting"     {"segment": [...], "country": [...], "tags": [...]}: each listed rule
//                   must hold -- the user's segment / country is one of the list, the user
//                   has at least one of the tags; an absent rule matches everyone       optional
//   "frequency_cap" integer >= 0: impressions per user per UTC day (0 = no cap)         optional
// Any other member, a missing required member, a wrong type, a negative budget, an unknown
// targeting rule or a duplicate id refuses the whole file with "FILE:LINE: reason".
//
// Thread-safety: Campaign is a plain value; LoadCampaigns is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "delivery/raw_feature.h"

namespace embark {

enum class BidType { kCpc, kCpm };

struct Targeting {
  std::vector<std::string> segments;   // empty: any segment
  std::vector<std::string> countries;  // empty: any country
  std::vector<std::string> tags;       // empty: any tags; else the user needs one of them
};


struct Campaign {
  std::string id;
  std::string item;
  std::vector<RawFeature> features;
  double bid = 0;
  BidType bid_type = BidType::kCpc;
  double daily_budget = 0;
  int64_t start = 0;  // seconds since the epoch, inclusive
  int64_t end = 0;    // exclusive
  Targeting targeting;
  uint32_t frequency_cap = 0;  // per user per day; 0 = none

  // The most one billable event (a click for cpc, an impression for cpm) can cost: the
  // budget guard keeps at least this much left before serving the campaign again.
  double MaxCharge() const { return bid_type == BidType::kCpc ? bid : bid / 1000.0; }
};

// Parses one campaign line (`source` names it in messages, e.g. "campaigns.jsonl:3").
Status ParseCampaign(const std::string& line, const std::string& source, Campaign* out);

// Loads a campaigns file; every error names FILE:LINE. InvalidArgument for an empty file.
Status LoadCampaigns(const std::string& path, std::vector<Campaign>* out);

// "YYYY-MM-DDTHH:MM:SSZ" -> seconds since the epoch; false when it does not parse.
bool ParseUtcTime(const std::string& text, int64_t* seconds);

// User attributes targeting reads (profile or cold-start request).
struct UserAttributes {
  std::string segment;             // "" = unknown (fails a segment rule)
  std::string country;             // "" = unknown (fails a country rule)
  std::vector<std::string> tags;
};

bool MatchesTargeting(const Targeting& t, const UserAttributes& user);

}  // namespace embark
