// SimWorld: a generated delivery world whose click behaviour is known exactly -- users,
// campaigns and a day of user arrivals, with the true click probability of any (arrival,
// campaign, slot) from the hidden FM-style model of `embark gen --kind=clicks`
// (tools/synth_data.h, SynthClickWorld). A model trained on `gen`'s files with the same
// --seed, --users and --items learns the very function the world clicks by, so delivery,
// pacing and off-policy estimates can be checked against the truth.
//
//   users      the users that arrive; profile features user (field 0), age_bucket (10),
//              gender (11); attributes segment "age<k>", country "r<home region>",
//              tags ["g<gender>", "d<favourite device>"]
//   arrivals   `arrivals` rows of gen's distribution (user by activity, hour by the daily
//              traffic curve: quiet at night, peak in the evening), at a uniform second of
//              their hour of day `day`; context features hour (5), weekday (6), device (7),
//              region (8) and ad_position (9) of slot 0 (a request is scored once for all its
//              slots; the true click probability of slot s uses position s)
//   campaigns  `num_campaigns` distinct items drawn by popularity; features item (1),
//              item_category (2), brand (3), price_bucket (4); cpc bid uniform in
//              [0.2, 2]; flight the whole day; a share targets 3 of the 7 age segments and a
//              share 10 of the 30 countries; frequency cap `frequency_cap`; daily budget
//              budget_fraction * bid * (clicks of an equal share of the day's traffic at the
//              world's mean click rate)
// Ids are gen's libffm ids (1 + the field's first id + value), so features match the
// training files. Same options, same world.
//
// Thread-safety: immutable after Create; const methods are safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/campaign.h"
#include "delivery/raw_feature.h"
#include "delivery/user_profiles.h"
#include "tools/synth_data.h"

namespace embark {

struct SimWorldOptions {
  SynthClicksOptions clicks;  // seed, num_users, num_items: as given to gen
  size_t num_campaigns = 50;
  int64_t arrivals = 20000;
  int64_t day = 20454;        // days since the epoch (2026-01-01)
  double budget_fraction = 0.5;
  uint32_t frequency_cap = 5;
  double segment_targeted_share = 0.3;
  double country_targeted_share = 0.2;
};

struct SimArrival {
  int64_t time = 0;
  std::string user;
  uint32_t values[kSynthClickFields] = {};  // the impression's field values (item fields unset)
  std::vector<RawFeature> context;
};

class SimWorld {
 public:
  static Status Create(const SimWorldOptions& options, std::unique_ptr<SimWorld>* out);

  const std::vector<Campaign>& campaigns() const { return campaigns_; }
  std::shared_ptr<const UserProfiles> users() const { return users_; }
  const std::vector<SimArrival>& arrivals() const { return arrivals_; }
  const SimWorldOptions& options() const { return options_; }
  // The true probability that arrival `a` clicks campaign `c` shown in slot `slot`.
  double ClickProbability(const SimArrival& a, size_t c, uint32_t slot) const;
  // Writes the campaigns and the users as the files `embark deliver` reads.
  Status WriteFiles(const std::string& campaigns_path, const std::string& users_path) const;

 private:
  SimWorldOptions options_;
  std::unique_ptr<SynthClickWorld> world_;
  std::vector<Campaign> campaigns_;
  std::vector<uint32_t> campaign_item_;
  std::shared_ptr<UserProfiles> users_;
  std::vector<SimArrival> arrivals_;
};

}  // namespace embark
