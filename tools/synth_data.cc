#include "tools/synth_data.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>

#include "core/hash.h"

namespace embark {
namespace {

constexpr double kTwoPi = 6.283185307179586;
constexpr int64_t kMaxIdCount = std::numeric_limits<int32_t>::max();

// Every kind of random choice draws from its own stream, so changing how many numbers one
// part consumes (say, the latent dimension) does not shift the numbers of another part.
enum StreamTag : uint64_t {
  kItemModelStream = 1,
  kUserModelStream = 2,
  kUserRankStream = 3,
  kBlockShuffleStream = 4,
  kClickModelStream = 5,
  kClickCalibrationStream = 6,
  kClickRowStream = 7,
};

uint64_t StreamSeed(uint64_t seed, uint64_t tag, uint64_t index) {
  return HashCombine(HashCombine(seed, tag), index);
}

// splitmix64 sequence with hand-written distributions: std::*_distribution output is
// implementation-defined, which would break "same seed, same bytes" across standard libraries.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    const uint64_t r = Mix64(state_);
    state_ += 0x9e3779b97f4a7c15ULL;
    return r;
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t Below(uint64_t n) {  // uniform in [0, n), n > 0
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  bool Bernoulli(double p) { return Uniform() < p; }
  double Normal() {  // Box-Muller, both outputs used
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(1.0 - Uniform()));
    const double angle = kTwoPi * Uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

 private:
  uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};

// A random permutation of [0, n): element r is the id that has popularity rank r.
std::vector<uint32_t> RandomRanking(int64_t n, Rng* rng) {
  std::vector<uint32_t> id_of_rank(n);
  std::iota(id_of_rank.begin(), id_of_rank.end(), 0u);
  for (int64_t i = n - 1; i > 0; --i) std::swap(id_of_rank[i], id_of_rank[rng->Below(i + 1)]);
  return id_of_rank;
}

// Draws ids with probability proportional to weight[id] in O(1) (Walker's alias method, Vose's
// construction): a binary search over a large CDF costs a cache miss per step, and the ratings
// generator draws several candidates per rating.
class WeightedSampler {
 public:
  explicit WeightedSampler(const std::vector<double>& weight)
      : keep_(weight.size()), alias_(weight.size()) {
    const size_t n = weight.size();
    const double total = std::accumulate(weight.begin(), weight.end(), 0.0);
    std::vector<double> scaled(n);
    std::vector<uint32_t> small, large;
    for (size_t i = 0; i < n; ++i) {
      scaled[i] = weight[i] * n / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const uint32_t s = small.back(), l = large.back();
      small.pop_back();
      keep_[s] = scaled[s];
      alias_[s] = l;
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // Leftovers are 1 up to rounding error.
    for (uint32_t i : large) keep_[i] = 1.0, alias_[i] = i;
    for (uint32_t i : small) keep_[i] = 1.0, alias_[i] = i;
  }
  uint32_t Sample(Rng* rng) const {
    const uint32_t column = static_cast<uint32_t>(rng->Below(keep_.size()));
    return rng->Uniform() < keep_[column] ? column : alias_[column];
  }

 private:
  std::vector<double> keep_;     // probability of returning the column itself
  std::vector<uint32_t> alias_;  // the id returned otherwise
};

// weight[id] = (rank(id) + 1)^-exponent for a random ranking of the ids.
std::vector<double> PowerLawWeights(int64_t n, double exponent, Rng* rng) {
  const std::vector<uint32_t> id_of_rank = RandomRanking(n, rng);
  std::vector<double> weight(n);
  for (int64_t r = 0; r < n; ++r) weight[id_of_rank[r]] = std::pow(static_cast<double>(r + 1), -exponent);
  return weight;
}

// Buffered text output to one file; reports failures with the file name.
class LineWriter {
 public:
  LineWriter() = default;
  ~LineWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  Status Open(const std::string& path) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "wb");
    if (file_ == nullptr) {
      return Status::IoError("cannot open " + path + " for writing: " + std::strerror(errno));
    }
    buffer_.reserve(kFlushBytes + 4096);
    return Status::OK();
  }
  void Char(char c) { buffer_.push_back(c); }
  void Int(uint64_t value) {
    char digits[24];
    const auto result = std::to_chars(digits, digits + sizeof(digits), value);
    buffer_.append(digits, result.ptr);
  }
  // Call once per line: writes the buffer out when it is large.
  Status EndLine() {
    buffer_.push_back('\n');
    return buffer_.size() >= kFlushBytes ? Flush() : Status::OK();
  }
  Status Close() {
    Status st = Flush();
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (st.ok() && rc != 0) {
      st = Status::IoError("cannot close " + path_ + ": " + std::strerror(errno));
    }
    return st;
  }

 private:
  static constexpr size_t kFlushBytes = 1 << 20;

  Status Flush() {
    if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      return Status::IoError("cannot write " + path_ + ": " + std::strerror(errno));
    }
    buffer_.clear();
    return Status::OK();
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  std::string buffer_;
};

// ---------------------------------------------------------------------------------------
// Ratings

constexpr double kGlobalMean = 3.2;
constexpr double kUserBiasStd = 0.4;
constexpr double kItemBiasStd = 0.5;
// Latent entries ~ N(0, s^2) with s^4 * dim = 0.5, so <u, v> has variance 0.5 for any dim.
constexpr double kLatentDotVariance = 0.5;
constexpr uint64_t kFirstTimestamp = 874724710;  // September 1997, as in MovieLens-100K
constexpr uint64_t kTimestampSpan = 200ull * 24 * 3600;
constexpr size_t kRatingsPerBlock = 1 << 20;
constexpr int kRejectionTries = 64;

struct RatingLine {
  uint32_t user;
  uint32_t item;
  uint32_t timestamp;
  uint8_t rating;
  bool test;
};

Status ValidateRatingsOptions(const SynthRatingsOptions& o) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("synthetic ratings: " + what);
  };
  if (o.num_users < 1 || o.num_users > kMaxIdCount) {
    return bad("num_users must be in [1, 2^31), got " + std::to_string(o.num_users));
  }
  if (o.num_items < 1 || o.num_items > kMaxIdCount) {
    return bad("num_items must be in [1, 2^31), got " + std::to_string(o.num_items));
  }
  if (o.num_ratings < 0) return bad("num_ratings must be >= 0, got " + std::to_string(o.num_ratings));
  const int64_t per_user_cap = (o.num_items + 1) / 2;
  if (o.num_ratings > o.num_users * per_user_cap) {
    return bad(std::to_string(o.num_ratings) + " ratings do not fit: each of the " +
               std::to_string(o.num_users) + " users rates at most ceil(num_items / 2) = " +
               std::to_string(per_user_cap) + " distinct items");
  }
  if (!(o.test_fraction >= 0 && o.test_fraction <= 1)) {
    return bad("test_fraction must be in [0, 1], got " + std::to_string(o.test_fraction));
  }
  if (o.latent_dim < 1 || o.latent_dim > 1024) {
    return bad("latent_dim must be in [1, 1024], got " + std::to_string(o.latent_dim));
  }
  if (!(o.noise >= 0)) return bad("noise must be >= 0, got " + std::to_string(o.noise));
  if (!(o.item_popularity_exponent >= 0) || !(o.user_activity_exponent >= 0)) {
    return bad("popularity and activity exponents must be >= 0");
  }
  if (o.candidates_per_pick < 1) {
    return bad("candidates_per_pick must be >= 1, got " + std::to_string(o.candidates_per_pick));
  }
  return Status::OK();
}

// How many ratings each user gets: proportional to its power-law activity weight but at most
// `cap`, rounded so the total is exactly `total` (the caller checked total <= users * cap).
std::vector<uint32_t> RatingsPerUser(const SynthRatingsOptions& o, int64_t cap) {
  const int64_t num_users = o.num_users;
  const int64_t total = o.num_ratings;
  Rng rng(StreamSeed(o.seed, kUserRankStream, 0));
  const std::vector<uint32_t> id_of_rank = RandomRanking(num_users, &rng);
  std::vector<double> weight_of_rank(num_users);  // non-increasing
  for (int64_t r = 0; r < num_users; ++r) {
    weight_of_rank[r] = std::pow(static_cast<double>(r + 1), -o.user_activity_exponent);
  }
  // Water-filling: the k heaviest users are capped and the rest share total - k * cap in
  // proportion to weight. Find the smallest k whose uncapped remainder respects the cap.
  std::vector<double> tail_weight(num_users + 1, 0.0);  // sum of weights of ranks >= r
  for (int64_t r = num_users - 1; r >= 0; --r) tail_weight[r] = tail_weight[r + 1] + weight_of_rank[r];
  int64_t capped = num_users;
  double scale = 0;
  for (int64_t k = 0; k < num_users; ++k) {
    const double s = static_cast<double>(total - k * cap) / tail_weight[k];
    if (s * weight_of_rank[k] <= static_cast<double>(cap)) {
      capped = k;
      scale = s;
      break;
    }
  }
  // Round the real-valued shares by cumulative rounding (exact total up to float error),
  // walking ids in order, then fix the last unit or two of float error deterministically.
  std::vector<double> share_of_id(num_users);
  for (int64_t r = 0; r < num_users; ++r) {
    share_of_id[id_of_rank[r]] = r < capped ? static_cast<double>(cap) : scale * weight_of_rank[r];
  }
  std::vector<uint32_t> count(num_users);
  double cumulative = 0;
  int64_t assigned = 0;
  for (int64_t u = 0; u < num_users; ++u) {
    cumulative += share_of_id[u];
    const int64_t upto = std::min<int64_t>(static_cast<int64_t>(std::floor(cumulative + 0.5)), total);
    const int64_t c = std::clamp<int64_t>(upto - assigned, 0, cap);
    count[u] = static_cast<uint32_t>(c);
    assigned += c;
  }
  for (int64_t u = 0; assigned < total && u < num_users; ++u) {
    const int64_t add = std::min<int64_t>(cap - count[u], total - assigned);
    count[u] += static_cast<uint32_t>(add);
    assigned += add;
  }
  return count;
}

struct ItemModel {
  std::vector<double> popularity;
  std::vector<float> bias;
  std::vector<float> latent;  // num_items x dim
};

ItemModel MakeItemModel(const SynthRatingsOptions& o, double latent_std) {
  Rng rng(StreamSeed(o.seed, kItemModelStream, 0));
  ItemModel m;
  m.popularity = PowerLawWeights(o.num_items, o.item_popularity_exponent, &rng);
  m.bias.resize(o.num_items);
  m.latent.resize(static_cast<size_t>(o.num_items) * o.latent_dim);
  for (int64_t i = 0; i < o.num_items; ++i) {
    m.bias[i] = static_cast<float>(kItemBiasStd * rng.Normal());
    for (int k = 0; k < o.latent_dim; ++k) {
      m.latent[i * o.latent_dim + k] = static_cast<float>(latent_std * rng.Normal());
    }
  }
  return m;
}

Status WriteRatingBlock(std::vector<RatingLine>* block, uint64_t block_index, uint64_t seed,
                        LineWriter* train, LineWriter* test) {
  Rng rng(StreamSeed(seed, kBlockShuffleStream, block_index));
  for (size_t i = block->size(); i > 1; --i) std::swap((*block)[i - 1], (*block)[rng.Below(i)]);
  for (const RatingLine& r : *block) {
    LineWriter* out = r.test ? test : train;
    out->Int(r.user);
    out->Char('\t');
    out->Int(r.item);
    out->Char('\t');
    out->Int(r.rating);
    out->Char('\t');
    out->Int(r.timestamp);
    EMBARK_RETURN_IF_ERROR(out->EndLine());
  }
  block->clear();
  return Status::OK();
}

}  // namespace

namespace {
// E[clamp(round(x + noise * N(0,1)), 1, 5)]: each rating k has the probability that x + noise
// falls in its rounding interval (the two end ratings take the tails).
double ExpectedRating(double x, double noise) {
  if (!(noise > 0)) return static_cast<double>(std::clamp(std::lround(x), 1L, 5L));
  auto below = [&](double edge) { return 0.5 * std::erfc(-(edge - x) / (noise * std::sqrt(2.0))); };
  double expected = 0, previous = 0;
  for (int k = 1; k <= 5; ++k) {
    const double upto = k == 5 ? 1.0 : below(k + 0.5);
    expected += k * (upto - previous);
    previous = upto;
  }
  return expected;
}
}  // namespace

Status WriteSynthRatings(const SynthRatingsOptions& o, const std::string& train_path,
                         const std::string& test_path, SynthTruth* truth) {
  double squared_error = 0;
  uint64_t test_rows = 0;
  EMBARK_RETURN_IF_ERROR(ValidateRatingsOptions(o));
  LineWriter train, test;
  EMBARK_RETURN_IF_ERROR(train.Open(train_path));
  EMBARK_RETURN_IF_ERROR(test.Open(test_path));

  const int dim = o.latent_dim;
  const double latent_std = std::pow(kLatentDotVariance / dim, 0.25);
  const int64_t cap = (o.num_items + 1) / 2;
  const ItemModel items = MakeItemModel(o, latent_std);
  const WeightedSampler popularity(items.popularity);
  const std::vector<uint32_t> count = RatingsPerUser(o, cap);

  std::vector<uint64_t> rated_bits((o.num_items + 63) / 64, 0);  // items of the current user
  auto is_rated = [&](uint32_t i) { return (rated_bits[i >> 6] >> (i & 63)) & 1; };
  std::vector<uint32_t> rated;
  std::vector<float> user_vec(dim);
  std::vector<RatingLine> block;
  block.reserve(std::min<size_t>(kRatingsPerBlock, static_cast<size_t>(o.num_ratings)));
  uint64_t block_index = 0;

  for (int64_t u = 0; u < o.num_users; ++u) {
    if (count[u] == 0) continue;
    Rng rng(StreamSeed(o.seed, kUserModelStream, u));
    const double user_bias = kUserBiasStd * rng.Normal();
    for (int k = 0; k < dim; ++k) user_vec[k] = static_cast<float>(latent_std * rng.Normal());
    auto dot = [&](uint32_t item) {
      const float* v = &items.latent[static_cast<size_t>(item) * dim];
      double sum = 0;
      for (int k = 0; k < dim; ++k) sum += static_cast<double>(user_vec[k]) * v[k];
      return sum;
    };
    // An item this user has not rated, by popularity; after many misses (a heavy user who
    // rated most popular items) the next unrated item after a uniform start.
    auto draw_unrated = [&]() -> uint32_t {
      for (int t = 0; t < kRejectionTries; ++t) {
        const uint32_t i = popularity.Sample(&rng);
        if (!is_rated(i)) return i;
      }
      uint32_t i = static_cast<uint32_t>(rng.Below(o.num_items));
      while (is_rated(i)) i = (i + 1 == o.num_items) ? 0 : i + 1;
      return i;
    };

    for (uint32_t j = 0; j < count[u]; ++j) {
      uint32_t best = draw_unrated();
      double best_affinity = dot(best);
      for (int c = 1; c < o.candidates_per_pick; ++c) {
        const uint32_t candidate = draw_unrated();
        const double affinity = dot(candidate);
        if (affinity > best_affinity) {
          best = candidate;
          best_affinity = affinity;
        }
      }
      rated_bits[best >> 6] |= uint64_t{1} << (best & 63);
      rated.push_back(best);
      const double mean = kGlobalMean + user_bias + items.bias[best] + dot(best);
      const double score = mean + o.noise * rng.Normal();
      RatingLine line;
      line.user = static_cast<uint32_t>(u);
      line.item = best;
      line.rating = static_cast<uint8_t>(std::clamp(std::lround(score), 1L, 5L));
      line.timestamp = static_cast<uint32_t>(kFirstTimestamp + rng.Below(kTimestampSpan));
      line.test = rng.Bernoulli(o.test_fraction);
      if (line.test) {
        const double e = line.rating - ExpectedRating(mean, o.noise);
        squared_error += e * e;
        ++test_rows;
      }
      block.push_back(line);
    }
    for (uint32_t i : rated) rated_bits[i >> 6] = 0;
    rated.clear();
    if (block.size() >= kRatingsPerBlock) {
      EMBARK_RETURN_IF_ERROR(WriteRatingBlock(&block, block_index++, o.seed, &train, &test));
    }
  }
  EMBARK_RETURN_IF_ERROR(WriteRatingBlock(&block, block_index, o.seed, &train, &test));
  EMBARK_RETURN_IF_ERROR(train.Close());
  if (truth != nullptr) {
    truth->test_rows = test_rows;
    truth->bayes_test_loss = test_rows > 0 ? std::sqrt(squared_error / static_cast<double>(test_rows)) : 0;
  }
  return test.Close();
}

// ---------------------------------------------------------------------------------------
// Clicks

namespace {

enum ClickField : int {
  kUser = 0, kItem, kCategory, kBrand, kPriceBucket, kHour, kWeekday, kDevice, kRegion,
  kAdPosition, kAgeBucket, kGender
};
static_assert(kGender + 1 == kSynthClickFields, "field list out of sync");

const char* const kClickFieldNames[kSynthClickFields] = {
    "user", "item", "item_category", "brand", "price_bucket", "hour", "weekday", "device",
    "region", "ad_position", "age_bucket", "gender"};
// Cardinalities of the fields that do not depend on the options.
constexpr int64_t kNumCategories = 40, kNumBrands = 200, kNumPriceBuckets = 10, kNumHours = 24,
                  kNumWeekdays = 7, kNumDevices = 4, kNumRegions = 30, kNumAdPositions = 6,
                  kNumAgeBuckets = 7, kNumGenders = 3;
// Standard deviation of each field's main-effect weights.
constexpr double kMainEffectStd[kSynthClickFields] = {0.3, 0.4, 0.3, 0.3, 0.2, 0.2,
                                                      0.1, 0.2, 0.2, 0.3, 0.2, 0.1};
// Field pairs with an interaction term; each term is <e_a, e_b> with kInteractionDim entries
// ~ N(0, 0.5^2), i.e. standard deviation 0.5 before interaction_strength.
constexpr int kInteractionPairs[][2] = {{kAgeBucket, kCategory}, {kGender, kCategory},
                                        {kDevice, kAdPosition}, {kHour, kCategory},
                                        {kUser, kCategory},      {kRegion, kBrand},
                                        {kPriceBucket, kAgeBucket}};
constexpr int kNumInteractionPairs = sizeof(kInteractionPairs) / sizeof(kInteractionPairs[0]);
constexpr int kInteractionDim = 4;
constexpr double kInteractionEntryStd = 0.5;
constexpr int kCalibrationRows = 20000;

std::vector<int64_t> ClickCardinalities(const SynthClicksOptions& o) {
  return {o.num_users, o.num_items, kNumCategories, kNumBrands, kNumPriceBuckets, kNumHours,
          kNumWeekdays, kNumDevices, kNumRegions, kNumAdPositions, kNumAgeBuckets, kNumGenders};
}

Status ValidateClicksOptions(const SynthClicksOptions& o) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("synthetic clicks: " + what);
  };
  if (o.num_rows < 0) return bad("num_rows must be >= 0, got " + std::to_string(o.num_rows));
  if (o.num_users < 1 || o.num_users > kMaxIdCount) {
    return bad("num_users must be in [1, 2^31), got " + std::to_string(o.num_users));
  }
  if (o.num_items < 1 || o.num_items > kMaxIdCount) {
    return bad("num_items must be in [1, 2^31), got " + std::to_string(o.num_items));
  }
  if (!(o.test_fraction >= 0 && o.test_fraction <= 1)) {
    return bad("test_fraction must be in [0, 1], got " + std::to_string(o.test_fraction));
  }
  if (!(o.target_positive_rate >= 0.01 && o.target_positive_rate <= 0.99)) {
    return bad("target_positive_rate must be in [0.01, 0.99], got " +
               std::to_string(o.target_positive_rate));
  }
  if (!(o.interaction_strength >= 0)) {
    return bad("interaction_strength must be >= 0, got " + std::to_string(o.interaction_strength));
  }
  return Status::OK();
}

// The hidden logistic model and the attribute tables that tie fields together (an item has
// one category, brand and price; a user has one age, gender, home region, favourite device).
class ClickModel {
 public:
  explicit ClickModel(const SynthClicksOptions& o)
      : options_(o), cardinality_(ClickCardinalities(o)) {
    Rng rng(StreamSeed(o.seed, kClickModelStream, 0));
    users_ = std::make_unique<WeightedSampler>(PowerLawWeights(o.num_users, 0.8, &rng));
    items_ = std::make_unique<WeightedSampler>(PowerLawWeights(o.num_items, 1.0, &rng));
    std::vector<double> hour_weight(kNumHours);
    for (int h = 0; h < kNumHours; ++h) {  // quiet at night, peak in the evening
      hour_weight[h] = 1.0 + 0.8 * std::sin(kTwoPi * (h - 14) / 24.0);
    }
    hours_ = std::make_unique<WeightedSampler>(hour_weight);

    item_category_.resize(o.num_items);
    item_brand_.resize(o.num_items);
    item_price_.resize(o.num_items);
    for (int64_t i = 0; i < o.num_items; ++i) {
      item_category_[i] = static_cast<uint16_t>(rng.Below(kNumCategories));
      item_brand_[i] = static_cast<uint16_t>(rng.Below(kNumBrands));
      item_price_[i] = static_cast<uint16_t>(rng.Below(kNumPriceBuckets));
    }
    user_age_.resize(o.num_users);
    user_gender_.resize(o.num_users);
    user_region_.resize(o.num_users);
    user_device_.resize(o.num_users);
    for (int64_t u = 0; u < o.num_users; ++u) {
      user_age_[u] = static_cast<uint8_t>(rng.Below(kNumAgeBuckets));
      user_gender_[u] = static_cast<uint8_t>(rng.Below(kNumGenders));
      user_region_[u] = static_cast<uint8_t>(rng.Below(kNumRegions));
      user_device_[u] = static_cast<uint8_t>(rng.Below(kNumDevices));
    }

    for (int f = 0; f < kSynthClickFields; ++f) {
      main_[f].resize(cardinality_[f]);
      for (float& w : main_[f]) w = static_cast<float>(kMainEffectStd[f] * rng.Normal());
    }
    // Ads further down the page are clicked less: a decreasing trend on ad_position.
    for (int64_t p = 0; p < kNumAdPositions; ++p) main_[kAdPosition][p] -= 0.25f * p;

    for (int p = 0; p < kNumInteractionPairs; ++p) {
      for (int side = 0; side < 2; ++side) {
        std::vector<float>& e = embedding_[p][side];
        e.resize(cardinality_[kInteractionPairs[p][side]] * kInteractionDim);
        for (float& x : e) x = static_cast<float>(kInteractionEntryStd * rng.Normal());
      }
    }

    bias_ = CalibrateBias();
  }

  // Fills values[kSynthClickFields] with one impression.
  void DrawRow(Rng* rng, uint32_t* values) const {
    const uint32_t user = users_->Sample(rng);
    const uint32_t item = items_->Sample(rng);
    values[kUser] = user;
    values[kItem] = item;
    values[kCategory] = item_category_[item];
    values[kBrand] = item_brand_[item];
    values[kPriceBucket] = item_price_[item];
    values[kHour] = hours_->Sample(rng);
    values[kWeekday] = static_cast<uint32_t>(rng->Below(kNumWeekdays));
    values[kDevice] = rng->Bernoulli(0.75) ? user_device_[user]
                                           : static_cast<uint32_t>(rng->Below(kNumDevices));
    values[kRegion] = rng->Bernoulli(0.85) ? user_region_[user]
                                           : static_cast<uint32_t>(rng->Below(kNumRegions));
    values[kAdPosition] = static_cast<uint32_t>(rng->Below(kNumAdPositions));
    values[kAgeBucket] = user_age_[user];
    values[kGender] = user_gender_[user];
  }

  void SetItem(uint32_t item, uint32_t* values) const {
    values[kItem] = item;
    values[kCategory] = item_category_[item];
    values[kBrand] = item_brand_[item];
    values[kPriceBucket] = item_price_[item];
  }

  void SetUser(uint32_t user, uint32_t* values) const {
    values[kUser] = user;
    values[kAgeBucket] = user_age_[user];
    values[kGender] = user_gender_[user];
    values[kRegion] = user_region_[user];
    values[kDevice] = user_device_[user];
  }

  // The logit without the calibrated bias.
  double Score(const uint32_t* values) const {
    double z = 0;
    for (int f = 0; f < kSynthClickFields; ++f) z += main_[f][values[f]];
    double pairs = 0;
    for (int p = 0; p < kNumInteractionPairs; ++p) {
      const float* a = &embedding_[p][0][values[kInteractionPairs[p][0]] * kInteractionDim];
      const float* b = &embedding_[p][1][values[kInteractionPairs[p][1]] * kInteractionDim];
      for (int k = 0; k < kInteractionDim; ++k) pairs += static_cast<double>(a[k]) * b[k];
    }
    return z + options_.interaction_strength * pairs;
  }

  double ClickProbability(const uint32_t* values) const {
    return 1.0 / (1.0 + std::exp(-(bias_ + Score(values))));
  }

 private:
  // The bias whose mean click probability over a sample of rows is the target rate
  // (bisection: the mean is increasing in the bias).
  double CalibrateBias() const {
    Rng rng(StreamSeed(options_.seed, kClickCalibrationStream, 0));
    std::vector<double> scores(kCalibrationRows);
    uint32_t values[kSynthClickFields];
    for (double& s : scores) {
      DrawRow(&rng, values);
      s = Score(values);
    }
    double lo = -30, hi = 30;
    for (int iter = 0; iter < 60; ++iter) {
      const double mid = 0.5 * (lo + hi);
      double mean = 0;
      for (double s : scores) mean += 1.0 / (1.0 + std::exp(-(mid + s)));
      mean /= scores.size();
      (mean < options_.target_positive_rate ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
  }

  SynthClicksOptions options_;
  std::vector<int64_t> cardinality_;
  std::unique_ptr<WeightedSampler> users_, items_, hours_;
  std::vector<uint16_t> item_category_, item_brand_, item_price_;
  std::vector<uint8_t> user_age_, user_gender_, user_region_, user_device_;
  std::vector<float> main_[kSynthClickFields];
  std::vector<float> embedding_[kNumInteractionPairs][2];
  double bias_ = 0;
};

}  // namespace

std::vector<SynthClickField> SynthClickFields(const SynthClicksOptions& options) {
  const std::vector<int64_t> cardinality = ClickCardinalities(options);
  std::vector<SynthClickField> fields(kSynthClickFields);
  int64_t next_id = 1;
  for (int f = 0; f < kSynthClickFields; ++f) {
    fields[f].name = kClickFieldNames[f];
    fields[f].cardinality = cardinality[f];
    fields[f].first_id = next_id;
    next_id += cardinality[f];
  }
  return fields;
}

Status WriteSynthClicks(const SynthClicksOptions& o, const std::string& out_prefix, SynthTruth* truth) {
  double logloss = 0;
  uint64_t test_rows = 0;
  EMBARK_RETURN_IF_ERROR(ValidateClicksOptions(o));
  LineWriter ffm_train, ffm_test, svm_train, svm_test;
  EMBARK_RETURN_IF_ERROR(ffm_train.Open(out_prefix + ".train.libffm"));
  EMBARK_RETURN_IF_ERROR(ffm_test.Open(out_prefix + ".test.libffm"));
  EMBARK_RETURN_IF_ERROR(svm_train.Open(out_prefix + ".train.libsvm"));
  EMBARK_RETURN_IF_ERROR(svm_test.Open(out_prefix + ".test.libsvm"));

  const ClickModel model(o);
  const std::vector<SynthClickField> fields = SynthClickFields(o);
  Rng rng(StreamSeed(o.seed, kClickRowStream, 0));
  uint32_t values[kSynthClickFields];
  for (int64_t row = 0; row < o.num_rows; ++row) {
    model.DrawRow(&rng, values);
    const double p = model.ClickProbability(values);
    const int label = rng.Bernoulli(p) ? 1 : 0;
    const bool is_test = rng.Bernoulli(o.test_fraction);
    if (is_test) {
      const double q = std::clamp(label ? p : 1 - p, 1e-15, 1.0);
      logloss -= std::log(q);
      ++test_rows;
    }
    LineWriter* ffm = is_test ? &ffm_test : &ffm_train;
    LineWriter* svm = is_test ? &svm_test : &svm_train;
    ffm->Char(static_cast<char>('0' + label));
    svm->Char(static_cast<char>('0' + label));
    for (int f = 0; f < kSynthClickFields; ++f) {
      const uint64_t id = static_cast<uint64_t>(fields[f].first_id) + values[f];
      ffm->Char(' ');
      ffm->Int(static_cast<uint64_t>(f));
      ffm->Char(':');
      ffm->Int(id);
      ffm->Char(':');
      ffm->Char('1');
      svm->Char(' ');
      svm->Int(id);
      svm->Char(':');
      svm->Char('1');
    }
    EMBARK_RETURN_IF_ERROR(ffm->EndLine());
    EMBARK_RETURN_IF_ERROR(svm->EndLine());
  }
  EMBARK_RETURN_IF_ERROR(ffm_train.Close());
  EMBARK_RETURN_IF_ERROR(ffm_test.Close());
  EMBARK_RETURN_IF_ERROR(svm_train.Close());
  if (truth != nullptr) {
    truth->test_rows = test_rows;
    truth->bayes_test_loss = test_rows > 0 ? logloss / static_cast<double>(test_rows) : 0;
  }
  return svm_test.Close();
}


struct SynthClickWorld::Impl {
  explicit Impl(const SynthClicksOptions& o) : model(o) {}
  ClickModel model;
};

Status SynthClickWorld::Create(const SynthClicksOptions& options, std::unique_ptr<SynthClickWorld>* out) {
  EMBARK_RETURN_IF_ERROR(ValidateClicksOptions(options));
  std::unique_ptr<SynthClickWorld> w(new SynthClickWorld());
  w->impl_ = std::make_unique<Impl>(options);
  w->fields_ = SynthClickFields(options);
  *out = std::move(w);
  return Status::OK();
}

SynthClickWorld::~SynthClickWorld() = default;

void SynthClickWorld::DrawRow(uint64_t seed, uint32_t* values) const {
  Rng rng(seed);
  impl_->model.DrawRow(&rng, values);
}

double SynthClickWorld::ClickProbability(const uint32_t* values) const { return impl_->model.ClickProbability(values); }

void SynthClickWorld::SetItem(uint32_t item, uint32_t* values) const { impl_->model.SetItem(item, values); }

void SynthClickWorld::SetUser(uint32_t user, uint32_t* values) const { impl_->model.SetUser(user, values); }

// ---------------------------------------------------------------------------------------
// Implicit feedback

namespace {

// Stream tags of the implicit generator (apart from the other kinds' tags).
constexpr uint64_t kImplicitModelStream = 101;
constexpr uint64_t kImplicitUserStream = 102;
constexpr int kPriceBands = 5;
constexpr int kRegions = 8;

void WriteFeature(LineWriter* out, int field, uint64_t id) {
  out->Char(' ');
  out->Int(static_cast<uint64_t>(field));
  out->Char(':');
  out->Int(id);
  out->Char(':');
  out->Char('1');
}

}  // namespace

Status WriteSynthImplicit(const SynthImplicitOptions& o, const std::string& out_prefix) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument("synthetic implicit data: " + what); };
  if (o.num_users < 1 || o.num_users > kMaxIdCount) return bad("num_users must be in [1, 2^31)");
  if (o.num_items < 4 || o.num_items > kMaxIdCount) return bad("num_items must be in [4, 2^31)");
  if (o.num_interactions < 0) return bad("num_interactions must be >= 0");
  if (!(o.test_fraction >= 0 && o.test_fraction < 1)) return bad("test_fraction must be in [0, 1)");
  if (o.latent_dim < 1 || o.latent_dim > 1024) return bad("latent_dim must be in [1, 1024]");
  if (o.num_categories < 1 || o.num_categories > o.num_items) return bad("num_categories must be in [1, num_items]");
  if (o.candidates_per_pick < 1) return bad("candidates_per_pick must be >= 1");
  const int dim = o.latent_dim;

  Rng model_rng(StreamSeed(o.seed, kImplicitModelStream, 0));
  std::vector<double> centres(static_cast<size_t>(o.num_categories) * dim);
  for (double& c : centres) c = model_rng.Normal();
  std::vector<uint32_t> category(o.num_items), price_band(o.num_items);
  std::vector<double> item_latent(static_cast<size_t>(o.num_items) * dim);
  for (int64_t i = 0; i < o.num_items; ++i) {
    category[i] = static_cast<uint32_t>(model_rng.Below(o.num_categories));
    price_band[i] = static_cast<uint32_t>(model_rng.Below(kPriceBands));
    for (int k = 0; k < dim; ++k)
      item_latent[i * dim + k] = centres[category[i] * dim + k] + 0.5 * model_rng.Normal();
  }
  const WeightedSampler popularity(PowerLawWeights(o.num_items, o.item_popularity_exponent, &model_rng));
  const std::vector<double> activity = PowerLawWeights(o.num_users, o.user_activity_exponent, &model_rng);
  double total_activity = 0;
  for (double a : activity) total_activity += a;
  const int64_t cap = std::max<int64_t>(2, o.num_items / 2);

  LineWriter train, test, items;
  EMBARK_RETURN_IF_ERROR(train.Open(out_prefix + ".train.libffm"));
  EMBARK_RETURN_IF_ERROR(test.Open(out_prefix + ".test.libffm"));
  EMBARK_RETURN_IF_ERROR(items.Open(out_prefix + ".items.libffm"));
  for (int64_t i = 0; i < o.num_items; ++i) {
    items.Char('1');
    WriteFeature(&items, 1, static_cast<uint64_t>(i));
    WriteFeature(&items, 32, category[i]);
    WriteFeature(&items, 33, price_band[i]);
    EMBARK_RETURN_IF_ERROR(items.EndLine());
  }

  std::vector<double> taste(dim);
  std::vector<uint32_t> picks;
  std::vector<bool> has(o.num_items, false);
  for (int64_t u = 0; u < o.num_users; ++u) {
    Rng rng(StreamSeed(o.seed, kImplicitUserStream, static_cast<uint64_t>(u)));
    const uint32_t favourite = static_cast<uint32_t>(rng.Below(o.num_categories));
    const uint32_t region = static_cast<uint32_t>(rng.Below(kRegions));
    for (int k = 0; k < dim; ++k) taste[k] = centres[favourite * dim + k] + 0.5 * rng.Normal();
    const int64_t want = std::clamp<int64_t>(
        static_cast<int64_t>(std::llround(o.num_interactions * activity[u] / total_activity)), 2, cap);
    picks.clear();
    for (int64_t p = 0; p < want; ++p) {
      int64_t best = -1;
      double best_score = 0;
      for (int tries = 0; tries < kRejectionTries && best < 0; ++tries) {
        for (int c = 0; c < o.candidates_per_pick; ++c) {
          const uint32_t item = popularity.Sample(&rng);
          if (has[item]) continue;
          double score = 0;
          for (int k = 0; k < dim; ++k) score += taste[k] * item_latent[item * dim + k];
          if (best < 0 || score > best_score) {
            best = item;
            best_score = score;
          }
        }
      }
      if (best < 0) break;  // the popular items are all taken: a shorter history
      has[best] = true;
      picks.push_back(static_cast<uint32_t>(best));
    }
    const size_t n = picks.size();
    size_t n_test = static_cast<size_t>(std::llround(o.test_fraction * static_cast<double>(n)));
    if (o.test_fraction > 0 && n >= 2) n_test = std::clamp<size_t>(n_test, 1, n - 1);
    for (size_t p = 0; p < n; ++p) {
      LineWriter* out = p + n_test >= n && n_test > 0 ? &test : &train;
      const uint32_t item = picks[p];
      out->Char('1');
      WriteFeature(out, 0, static_cast<uint64_t>(u));
      WriteFeature(out, 2, favourite);
      WriteFeature(out, 3, region);
      WriteFeature(out, 1, item);
      WriteFeature(out, 32, category[item]);
      WriteFeature(out, 33, price_band[item]);
      EMBARK_RETURN_IF_ERROR(out->EndLine());
      has[item] = false;
    }
  }
  EMBARK_RETURN_IF_ERROR(train.Close());
  EMBARK_RETURN_IF_ERROR(test.Close());
  return items.Close();
}

}  // namespace embark
