// Tests for tools/synth_data.h: determinism, counts, formats, skew, click rate, and that the
// planted signal is learnable by simple predictors computed here independently.
#include "tools/synth_data.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/hash.h"

namespace embark {
namespace {

// A fresh directory under the test temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "/synth_data_test.XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << pattern;
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// Parses a whole decimal integer; fails the test on anything else.
int64_t ToInt(const std::string& s) {
  size_t used = 0;
  int64_t value = -1;
  try {
    value = std::stoll(s, &used);
  } catch (...) {
    ADD_FAILURE() << "not an integer: '" << s << "'";
    return -1;
  }
  EXPECT_EQ(used, s.size()) << "not an integer: '" << s << "'";
  return value;
}

// ---------------------------------------------------------------------------------------
// Ratings

struct Rating {
  int64_t user, item, rating, timestamp;
};

std::vector<Rating> ParseRatings(const std::string& path) {
  std::vector<Rating> out;
  for (const std::string& line : ReadLines(path)) {
    const std::vector<std::string> f = Split(line, '\t');
    EXPECT_EQ(f.size(), 4u) << path << ": '" << line << "'";
    if (f.size() != 4) continue;
    out.push_back({ToInt(f[0]), ToInt(f[1]), ToInt(f[2]), ToInt(f[3])});
  }
  return out;
}

TEST(SynthRatingsTest, SameSeedSameBytesOtherSeedOtherBytes) {
  ScratchDir dir;
  SynthRatingsOptions o;
  o.num_ratings = 20000;
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("a.train"), dir.File("a.test")).ok());
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("b.train"), dir.File("b.test")).ok());
  o.seed = 2;
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("c.train"), dir.File("c.test")).ok());
  const std::string a = ReadAll(dir.File("a.train"));
  EXPECT_GT(a.size(), 10000u);
  EXPECT_EQ(a, ReadAll(dir.File("b.train")));
  EXPECT_EQ(ReadAll(dir.File("a.test")), ReadAll(dir.File("b.test")));
  EXPECT_NE(a, ReadAll(dir.File("c.train")));
}

TEST(SynthRatingsTest, CountsRangesFormatAndSkew) {
  ScratchDir dir;
  SynthRatingsOptions o;  // 1000 users, 500 items, 50000 ratings
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("train"), dir.File("test")).ok());
  const std::vector<Rating> train = ParseRatings(dir.File("train"));
  const std::vector<Rating> test = ParseRatings(dir.File("test"));
  ASSERT_EQ(train.size() + test.size(), 50000u);
  EXPECT_NEAR(static_cast<double>(test.size()) / 50000, 0.2, 0.01);

  std::vector<int64_t> per_item(o.num_items, 0), per_user(o.num_users, 0), per_value(6, 0);
  std::set<std::pair<int64_t, int64_t>> pairs;
  for (const std::vector<Rating>* part : {&train, &test}) {
    for (const Rating& r : *part) {
      ASSERT_GE(r.user, 0);
      ASSERT_LT(r.user, o.num_users);
      ASSERT_GE(r.item, 0);
      ASSERT_LT(r.item, o.num_items);
      ASSERT_GE(r.rating, 1);
      ASSERT_LE(r.rating, 5);
      ASSERT_GE(r.timestamp, 874724710);
      ASSERT_LT(r.timestamp, 874724710 + 200 * 24 * 3600);
      ++per_item[r.item];
      ++per_user[r.user];
      ++per_value[r.rating];
      EXPECT_TRUE(pairs.insert({r.user, r.item}).second)
          << "user " << r.user << " rated item " << r.item << " twice";
    }
  }
  for (int v = 1; v <= 5; ++v) EXPECT_GT(per_value[v], 100) << "rating " << v << " almost absent";
  EXPECT_LE(*std::max_element(per_user.begin(), per_user.end()), 250);  // ceil(500 / 2)

  // Power-law popularity: the top 10% of items hold more than 40% of the ratings (a uniform
  // choice would give 10%), and user activity is skewed too.
  std::sort(per_item.rbegin(), per_item.rend());
  int64_t top_items = 0;
  for (int i = 0; i < 50; ++i) top_items += per_item[i];
  EXPECT_GT(top_items, 0.4 * 50000) << top_items;
  std::sort(per_user.rbegin(), per_user.rend());
  int64_t top_users = 0;
  for (int u = 0; u < 100; ++u) top_users += per_user[u];
  EXPECT_GT(top_users, 0.25 * 50000) << top_users;

  // Lines are not grouped by user: the first 200 lines come from many users.
  std::set<int64_t> first_users;
  for (size_t i = 0; i < 200; ++i) first_users.insert(train[i].user);
  EXPECT_GT(first_users.size(), 50u);
}

double Rmse(const std::vector<Rating>& test, const std::vector<double>& predict_by_item) {
  double sum = 0;
  for (const Rating& r : test) {
    const double e = predict_by_item[r.item] - r.rating;
    sum += e * e;
  }
  return std::sqrt(sum / test.size());
}

TEST(SynthRatingsTest, PerItemMeanBeatsGlobalMean) {
  ScratchDir dir;
  SynthRatingsOptions o;
  o.num_ratings = 30000;
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("train"), dir.File("test")).ok());
  const std::vector<Rating> train = ParseRatings(dir.File("train"));
  const std::vector<Rating> test = ParseRatings(dir.File("test"));
  ASSERT_FALSE(test.empty());

  double global = 0;
  std::vector<double> sum(o.num_items, 0), count(o.num_items, 0);
  for (const Rating& r : train) {
    global += r.rating;
    sum[r.item] += r.rating;
    count[r.item] += 1;
  }
  global /= train.size();
  // Item means shrunk towards the global mean by 5 pseudo-ratings (rare items are noisy).
  std::vector<double> item_mean(o.num_items), global_only(o.num_items, global);
  for (int64_t i = 0; i < o.num_items; ++i) item_mean[i] = (sum[i] + 5 * global) / (count[i] + 5);
  const double rmse_global = Rmse(test, global_only);
  const double rmse_item = Rmse(test, item_mean);
  EXPECT_LT(rmse_item, 0.95 * rmse_global) << rmse_item << " vs " << rmse_global;
}

// The Bayes limit the generator reports: 0 without noise (every rating is the rounded mean),
// between the rounding-free noise floor and the per-item-mean baseline with noise.
TEST(SynthRatingsTest, ReportsTheBayesRmseOfItsOwnModel) {
  ScratchDir dir;
  SynthRatingsOptions o;
  o.num_ratings = 30000;
  o.noise = 0;
  SynthTruth truth;
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("train0"), dir.File("test0"), &truth).ok());
  EXPECT_EQ(truth.test_rows, ParseRatings(dir.File("test0")).size());
  EXPECT_EQ(truth.bayes_test_loss, 0.0);
  o.noise = 0.5;
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("train"), dir.File("test"), &truth).ok());
  const std::vector<Rating> test = ParseRatings(dir.File("test"));
  ASSERT_EQ(truth.test_rows, test.size());
  double mean = 0;
  for (const Rating& r : test) mean += r.rating;
  mean /= test.size();
  const double rmse_mean = Rmse(test, std::vector<double>(o.num_items, mean));
  EXPECT_GT(truth.bayes_test_loss, 0.3) << "noise 0.5 (clipping and rounding shave a little)";
  EXPECT_LT(truth.bayes_test_loss, 0.6);
  EXPECT_LT(truth.bayes_test_loss, 0.8 * rmse_mean);
}

TEST(SynthClicksTest, ReportsTheBayesLoglossOfItsOwnModel) {
  ScratchDir dir;
  SynthClicksOptions o;
  o.num_rows = 40000;
  SynthTruth truth;
  ASSERT_TRUE(WriteSynthClicks(o, dir.File("c"), &truth).ok());
  const std::vector<std::string> lines = ReadLines(dir.File("c.test.libsvm"));
  ASSERT_EQ(truth.test_rows, lines.size());
  double positives = 0;
  for (const std::string& line : lines) positives += line[0] == '1';
  const double rate = positives / lines.size();
  const double constant = -(rate * std::log(rate) + (1 - rate) * std::log(1 - rate));
  EXPECT_GT(truth.bayes_test_loss, 0.05);
  EXPECT_LT(truth.bayes_test_loss, constant - 0.02) << "the features carry signal beyond the positive rate";
}

TEST(SynthRatingsTest, RejectsBadOptionsAndUnwritablePaths) {
  ScratchDir dir;
  SynthRatingsOptions o;
  o.num_users = 0;
  Status st = WriteSynthRatings(o, dir.File("train"), dir.File("test"));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("num_users"), std::string::npos) << st.message();

  o = SynthRatingsOptions();
  o.num_users = 10;
  o.num_items = 10;
  o.num_ratings = 51;  // at most 10 users * 5 items
  st = WriteSynthRatings(o, dir.File("train"), dir.File("test"));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  o.num_ratings = 50;  // exactly full: every user rates 5 distinct items
  ASSERT_TRUE(WriteSynthRatings(o, dir.File("train"), dir.File("test")).ok());
  EXPECT_EQ(ReadLines(dir.File("train")).size() + ReadLines(dir.File("test")).size(), 50u);

  const std::string bad_path = dir.File("no_such_dir/train");
  st = WriteSynthRatings(SynthRatingsOptions(), bad_path, dir.File("test"));
  EXPECT_EQ(st.code(), Status::Code::kIoError);
  EXPECT_NE(st.message().find(bad_path), std::string::npos) << st.message();
}

// ---------------------------------------------------------------------------------------
// Clicks

struct ClickRow {
  int label;
  std::vector<int64_t> values;  // per field, value = id - first_id
};

// Parses a libffm file, checking every token against the field table.
std::vector<ClickRow> ParseLibffm(const std::string& path,
                                  const std::vector<SynthClickField>& fields) {
  std::vector<ClickRow> rows;
  for (const std::string& line : ReadLines(path)) {
    const std::vector<std::string> tokens = Split(line, ' ');
    EXPECT_EQ(tokens.size(), 1u + kSynthClickFields) << path << ": '" << line << "'";
    if (tokens.size() != 1u + kSynthClickFields) continue;
    ClickRow row;
    row.label = static_cast<int>(ToInt(tokens[0]));
    EXPECT_TRUE(row.label == 0 || row.label == 1) << line;
    for (int f = 0; f < kSynthClickFields; ++f) {
      const std::vector<std::string> parts = Split(tokens[1 + f], ':');
      EXPECT_EQ(parts.size(), 3u) << tokens[1 + f];
      if (parts.size() != 3) break;
      EXPECT_EQ(ToInt(parts[0]), f);
      EXPECT_EQ(parts[2], "1");
      const int64_t value = ToInt(parts[1]) - fields[f].first_id;
      EXPECT_GE(value, 0) << fields[f].name;
      EXPECT_LT(value, fields[f].cardinality) << fields[f].name;
      row.values.push_back(value);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// Converts libffm text to the libsvm text the generator should have written for it.
std::string LibffmToLibsvm(const std::string& ffm) {
  std::string out;
  for (const std::string& line : Split(ffm, '\n')) {
    if (line.empty()) continue;
    const std::vector<std::string> tokens = Split(line, ' ');
    out += tokens[0];
    for (size_t i = 1; i < tokens.size(); ++i) out += " " + tokens[i].substr(tokens[i].find(':') + 1);
    out += "\n";
  }
  return out;
}

TEST(SynthClicksTest, FieldTableHasGlobalOneBasedIds) {
  SynthClicksOptions o;
  o.num_users = 100;
  o.num_items = 20;
  const std::vector<SynthClickField> fields = SynthClickFields(o);
  ASSERT_EQ(fields.size(), static_cast<size_t>(kSynthClickFields));
  EXPECT_EQ(fields[0].name, "user");
  EXPECT_EQ(fields[0].first_id, 1);
  EXPECT_EQ(fields[1].name, "item");
  EXPECT_EQ(fields[1].first_id, 101);
  EXPECT_EQ(fields[2].first_id, 121);
  for (int f = 1; f < kSynthClickFields; ++f) {
    EXPECT_EQ(fields[f].first_id, fields[f - 1].first_id + fields[f - 1].cardinality);
  }
}

TEST(SynthClicksTest, DeterministicFormatsAgreeAndCountsAdd) {
  ScratchDir dir;
  SynthClicksOptions o;
  o.num_rows = 20000;
  ASSERT_TRUE(WriteSynthClicks(o, dir.File("a")).ok());
  ASSERT_TRUE(WriteSynthClicks(o, dir.File("b")).ok());
  for (const char* suffix : {".train.libffm", ".test.libffm", ".train.libsvm", ".test.libsvm"}) {
    const std::string a = ReadAll(dir.File(std::string("a") + suffix));
    EXPECT_FALSE(a.empty()) << suffix;
    EXPECT_EQ(a, ReadAll(dir.File(std::string("b") + suffix))) << suffix;
  }
  // libsvm rows are the libffm rows without the field numbers.
  EXPECT_EQ(ReadAll(dir.File("a.train.libsvm")), LibffmToLibsvm(ReadAll(dir.File("a.train.libffm"))));
  EXPECT_EQ(ReadAll(dir.File("a.test.libsvm")), LibffmToLibsvm(ReadAll(dir.File("a.test.libffm"))));

  const std::vector<SynthClickField> fields = SynthClickFields(o);
  const std::vector<ClickRow> train = ParseLibffm(dir.File("a.train.libffm"), fields);
  const std::vector<ClickRow> test = ParseLibffm(dir.File("a.test.libffm"), fields);
  EXPECT_EQ(train.size() + test.size(), 20000u);
  EXPECT_NEAR(static_cast<double>(test.size()) / 20000, 0.2, 0.015);

  o.seed = 9;
  ASSERT_TRUE(WriteSynthClicks(o, dir.File("c")).ok());
  EXPECT_NE(ReadAll(dir.File("a.train.libffm")), ReadAll(dir.File("c.train.libffm")));
}

double PositiveRate(const std::vector<ClickRow>& rows) {
  double positives = 0;
  for (const ClickRow& r : rows) positives += r.label;
  return positives / rows.size();
}

TEST(SynthClicksTest, PositiveRateFollowsTheTarget) {
  ScratchDir dir;
  SynthClicksOptions o;
  o.num_rows = 20000;
  o.test_fraction = 0;
  const std::vector<SynthClickField> fields = SynthClickFields(o);
  for (double target : {0.1, 0.2, 0.3}) {
    o.target_positive_rate = target;
    ASSERT_TRUE(WriteSynthClicks(o, dir.File("r")).ok());
    const std::vector<ClickRow> rows = ParseLibffm(dir.File("r.train.libffm"), fields);
    ASSERT_EQ(rows.size(), 20000u);
    EXPECT_TRUE(ReadAll(dir.File("r.test.libffm")).empty());
    EXPECT_NEAR(PositiveRate(rows), target, 0.02) << target;
  }
}

// Logistic regression trained by AdaGrad on one-hot features, optionally with hashed
// conjunctions of field pairs (the same pairs for every row). Returns test log-loss.
double LogisticTestLoss(const std::vector<ClickRow>& train, const std::vector<ClickRow>& test,
                        const std::vector<SynthClickField>& fields,
                        const std::vector<std::pair<int, int>>& crosses) {
  constexpr uint64_t kSlots = 1 << 18;
  std::vector<double> w(kSlots, 0), g2(kSlots, 1e-6);
  std::vector<uint64_t> slots;
  auto features = [&](const ClickRow& r) {
    slots.clear();
    slots.push_back(0);  // bias
    for (int f = 0; f < kSynthClickFields; ++f) {
      slots.push_back(HashCombine(f, r.values[f]) % kSlots);
    }
    for (size_t c = 0; c < crosses.size(); ++c) {
      const auto [a, b] = crosses[c];
      slots.push_back(HashCombine(1000 + c, r.values[a] * 1000003 + r.values[b]) % kSlots);
    }
  };
  auto predict = [&]() {
    double z = 0;
    for (uint64_t s : slots) z += w[s];
    return 1.0 / (1.0 + std::exp(-z));
  };
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (const ClickRow& r : train) {
      features(r);
      const double g = predict() - r.label;
      for (uint64_t s : slots) {
        g2[s] += g * g;
        w[s] -= 0.1 * g / std::sqrt(g2[s]);
      }
    }
  }
  double loss = 0;
  for (const ClickRow& r : test) {
    features(r);
    const double p = std::clamp(predict(), 1e-7, 1 - 1e-7);
    loss -= r.label ? std::log(p) : std::log(1 - p);
  }
  return loss / test.size();
}

double ConstantTestLoss(const std::vector<ClickRow>& train, const std::vector<ClickRow>& test) {
  const double p = PositiveRate(train);
  double loss = 0;
  for (const ClickRow& r : test) loss -= r.label ? std::log(p) : std::log(1 - p);
  return loss / test.size();
}

TEST(SynthClicksTest, FieldsAndPairInteractionsCarrySignal) {
  ScratchDir dir;
  SynthClicksOptions o;
  o.num_rows = 50000;
  o.num_users = 2000;
  const std::vector<SynthClickField> fields = SynthClickFields(o);
  // Field pairs of the hidden model other than user x category, in field indices.
  const std::vector<std::pair<int, int>> crosses = {{10, 2}, {11, 2}, {7, 9}, {5, 2}, {8, 3}, {4, 10}};

  ASSERT_TRUE(WriteSynthClicks(o, dir.File("x")).ok());
  const std::vector<ClickRow> train = ParseLibffm(dir.File("x.train.libffm"), fields);
  const std::vector<ClickRow> test = ParseLibffm(dir.File("x.test.libffm"), fields);
  const double constant = ConstantTestLoss(train, test);
  const double lr = LogisticTestLoss(train, test, fields, {});
  const double lr_cross = LogisticTestLoss(train, test, fields, crosses);
  EXPECT_LT(lr, constant - 0.01) << lr << " vs constant " << constant;
  EXPECT_LT(lr_cross, lr - 0.005) << "crosses " << lr_cross << " vs lr " << lr;

  // Control: without interactions in the hidden model, the crosses stop helping.
  o.interaction_strength = 0;
  ASSERT_TRUE(WriteSynthClicks(o, dir.File("y")).ok());
  const std::vector<ClickRow> train0 = ParseLibffm(dir.File("y.train.libffm"), fields);
  const std::vector<ClickRow> test0 = ParseLibffm(dir.File("y.test.libffm"), fields);
  const double lr0 = LogisticTestLoss(train0, test0, fields, {});
  const double lr_cross0 = LogisticTestLoss(train0, test0, fields, crosses);
  EXPECT_GT(lr_cross0, lr0 - 0.002) << "crosses " << lr_cross0 << " vs lr " << lr0;
}

TEST(SynthClicksTest, RejectsBadOptionsAndUnwritablePrefix) {
  ScratchDir dir;
  SynthClicksOptions o;
  o.target_positive_rate = 1.5;
  Status st = WriteSynthClicks(o, dir.File("p"));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("target_positive_rate"), std::string::npos) << st.message();
  o = SynthClicksOptions();
  o.num_rows = 10;
  const std::string bad_prefix = dir.File("missing/p");
  st = WriteSynthClicks(o, bad_prefix);
  EXPECT_EQ(st.code(), Status::Code::kIoError);
  EXPECT_NE(st.message().find(bad_prefix + ".train.libffm"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace embark
