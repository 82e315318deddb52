// Synthetic e-commerce data sets with a known, learnable structure, for tests, benchmarks and
// the `embark gen` subcommand.
//
// Ratings (MovieLens u.data style, "user\titem\trating\ttimestamp" per line):
//   * user activity and item popularity follow power laws (a few heavy users and hit items);
//   * every user and item has a bias and a latent vector of `latent_dim` floats, and
//     rating = clip(round(global_mean + user_bias + item_bias + <u, v> + noise * N(0,1)), 1, 5),
//     so matrix factorisation can recover the structure and a per-item mean already beats the
//     global mean;
//   * a user picks each item by drawing a few candidates by popularity and keeping the one its
//     taste prefers (largest <u, v>), so choices mix popularity and preference; the item bias
//     (quality) is deliberately not part of the choice, so it shows up in item mean ratings;
//   * a user rates an item at most once and at most ceil(num_items / 2) items in all;
//   * each rating goes to the test file with probability test_fraction.
//   Lines are emitted per block of users (about a million ratings) shuffled within the block, so
//   the output is not grouped by user and memory stays bounded for any num_ratings.
//
// Clicks (CTR): rows of kSynthClickFields categorical fields (user, item, item_category, brand,
//   price_bucket, hour, weekday, device, region, ad_position, age_bucket, gender). The label is
//   Bernoulli(sigmoid(bias + sum of per-field weights + sum over a few field pairs of
//   interaction_strength * <e_a, e_b>)), with field-pair-specific latent vectors e (the
//   structure FFM models exactly and FM approximately; LR cannot represent the pair terms).
//   The bias is calibrated so the positive rate is close to target_positive_rate.
//   Each row is written twice, in libffm ("label field:id:1 ...") and libsvm/libFM
//   ("label id:1 ...") format; labels are 0/1, fields are 0-based, and ids are GLOBAL and
//   1-based in both formats: id = 1 + first id of the field + value (see SynthClickFields), so
//   ids of different fields never collide and are ascending within a line.
//
// Every random choice comes from a seeded counter-based generator: the same options give the
// same bytes. Memory is O(num_users + num_items), independent of the number of rows/ratings.
//
// Thread-safety: the functions share no state; concurrent calls with distinct output paths
// are safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace embark {

struct SynthRatingsOptions {
  uint64_t seed = 1;
  int64_t num_users = 1000;
  int64_t num_items = 500;
  int64_t num_ratings = 50000;   // train + test lines; must fit the per-user cap (see above)
  double test_fraction = 0.2;
  int latent_dim = 8;
  double noise = 0.5;                  // standard deviation of the rating noise
  double item_popularity_exponent = 1.3;  // item of popularity rank r has weight (r+1)^-exp
  double user_activity_exponent = 0.8;    // same for users' share of the ratings
  int candidates_per_pick = 3;         // 1 = pure popularity; more = more preference-driven
};

// What the best possible model would score on the written test set, from the generator's own
// known model (the Bayes limit a trained model is measured against):
//   ratings: the RMSE of E[rating | user, item] (the expectation of the rounded, clipped noisy
//            score under the generator's noise), over the test ratings;
//   clicks:  the mean logloss of the true click probabilities, over the test rows.
struct SynthTruth {
  uint64_t test_rows = 0;
  double bayes_test_loss = 0;  // RMSE (ratings) or logloss (clicks)
};

// Writes the ratings to train_path and test_path (created or truncated); `truth` (optional)
// receives the Bayes limit of the test file.
// InvalidArgument for bad options, IoError naming the file if writing fails.
Status WriteSynthRatings(const SynthRatingsOptions& options, const std::string& train_path,
                         const std::string& test_path, SynthTruth* truth = nullptr);

struct SynthClicksOptions {
  uint64_t seed = 1;
  int64_t num_rows = 100000;  // train + test rows
  double test_fraction = 0.2;
  int64_t num_users = 10000;
  int64_t num_items = 2000;
  double target_positive_rate = 0.2;  // in [0.01, 0.99]; the achieved rate is within ~1-2%
  double interaction_strength = 1.0;  // 0 = purely additive (LR is the right model)
};

inline constexpr int kSynthClickFields = 12;

// One categorical field of the click data: its values are 0..cardinality-1 and value x is
// written as id first_id + x (1-based global id, the same in both formats).
struct SynthClickField {
  std::string name;
  int64_t cardinality = 0;
  int64_t first_id = 0;
};
// The kSynthClickFields fields in field-index order.
std::vector<SynthClickField> SynthClickFields(const SynthClicksOptions& options);

// Writes PREFIX.train.libffm, PREFIX.test.libffm, PREFIX.train.libsvm, PREFIX.test.libsvm.
// InvalidArgument for bad options, IoError naming the file if writing fails.
Status WriteSynthClicks(const SynthClicksOptions& options, const std::string& out_prefix,
                        SynthTruth* truth = nullptr);

// The generator's hidden click model as an object, for tools that need the true click
// probability of impressions the files never held (the delivery simulator,
// delivery/simulator.h): the same options give the same users, items, attributes and
// probabilities as WriteSynthClicks. Field indices are those of SynthClickFields (0 user,
// 1 item, 2 item_category, 3 brand, 4 price_bucket, 5 hour, 6 weekday, 7 device, 8 region,
// 9 ad_position, 10 age_bucket, 11 gender); values[f] is the 0-based value of field f.
// Thread-safety: immutable after construction; every method is const and safe from any thread.
class SynthClickWorld {
 public:
  // InvalidArgument for options WriteSynthClicks would refuse.
  static Status Create(const SynthClicksOptions& options, std::unique_ptr<SynthClickWorld>* out);
  ~SynthClickWorld();
  // One impression of the data's distribution (user by activity, item by popularity, hour by
  // the daily traffic profile, ...), drawn from a generator seeded with `seed`.
  void DrawRow(uint64_t seed, uint32_t* values) const;
  // P(click) of the impression values[kSynthClickFields].
  double ClickProbability(const uint32_t* values) const;
  // Overwrites the item fields (item, category, brand, price) of `values` with item `item`'s.
  void SetItem(uint32_t item, uint32_t* values) const;
  // The fixed attributes of user `user`: its age bucket, gender, home region and favourite
  // device, written into those fields of `values` (and the user field).
  void SetUser(uint32_t user, uint32_t* values) const;
  const std::vector<SynthClickField>& fields() const { return fields_; }

 private:
  struct Impl;
  SynthClickWorld() = default;
  std::unique_ptr<Impl> impl_;
  std::vector<SynthClickField> fields_;
};

// Implicit feedback (purchases/clicks without ratings), in the libffm interaction contract of
// models/interaction_fields.h, one positive per line:
//   1 0:<user>:1 2:<segment>:1 3:<region>:1 1:<item>:1 32:<category>:1 33:<price band>:1
//   * items belong to one of num_categories categories; an item's latent vector is its
//     category's centre plus noise, and item popularity follows a power law;
//   * a user's latent vector is the centre of a favourite category plus noise; its segment
//     (field 2) is that favourite category, so profile features carry taste; region (field 3)
//     and price band (field 33) are uninformative;
//   * a user's activity follows a power law (at least 2 interactions, at most num_items / 2);
//     each pick draws candidates_per_pick items by popularity and keeps the one the user's
//     taste prefers, never an item the user already has;
//   * per user, the last test_fraction of its picks (at least one when it has 2 or more) go
//     to the test file: a per-user time split.
// Writes PREFIX.train.libffm, PREFIX.test.libffm and the catalogue PREFIX.items.libffm
// ("1 1:<item>:1 32:<category>:1 33:<price band>:1" for every item). Same options, same bytes.
struct SynthImplicitOptions {
  uint64_t seed = 1;
  int64_t num_users = 2000;
  int64_t num_items = 1000;
  int64_t num_interactions = 40000;  // train + test, approximately (per-user rounding)
  double test_fraction = 0.2;
  int latent_dim = 8;
  int num_categories = 20;
  double item_popularity_exponent = 1.0;
  double user_activity_exponent = 0.8;
  int candidates_per_pick = 8;
};

Status WriteSynthImplicit(const SynthImplicitOptions& options, const std::string& out_prefix);

}  // namespace embark
