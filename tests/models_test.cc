// Tests of the model maths (MF, LR, FM) and the model factory, on small generated batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "models/fm.h"
#include "models/logistic_regression.h"
#include "models/mf.h"
#include "models/model_factory.h"
#include "models/model_spec.h"
#include "tests/model_test_util.h"

namespace embark {
namespace {

// Fills PulledRows the way the worker does: one row per distinct (table, key) of the batch,
// in order of first appearance, with weights drawn from `rng` (or zero).
struct TestRows {
  PulledRows rows;
  std::vector<std::map<uint64_t, int32_t>> row_of_key;  // per table
};

TestRows PullTestRows(const Model& model, const Batch& batch, std::mt19937* rng, float scale) {
  const std::vector<TableConfig> tables = model.Tables();
  TestRows out;
  out.rows.rows.resize(tables.size());
  out.row_of_key.resize(tables.size());
  std::normal_distribution<float> normal(0.0f, scale);
  auto draw = [&] { return scale > 0 ? normal(*rng) : 0.0f; };
  for (size_t t = 0; t < tables.size(); ++t) {
    if (tables[t].dense) {
      for (uint64_t j = 0; j < tables[t].dense_size; ++j) out.rows.rows[t].push_back(draw());
    }
  }
  for (size_t f = 0; f < batch.num_features(); ++f) {
    const int t = model.TableOfField(batch.fields[f]);
    if (t < 0) {
      out.rows.row_of_feature.push_back(-1);
      continue;
    }
    auto [it, inserted] = out.row_of_key[t].emplace(
        batch.keys[f], static_cast<int32_t>(out.row_of_key[t].size()));
    if (inserted) {
      for (uint32_t j = 0; j < tables[t].dim; ++j) out.rows.rows[t].push_back(draw());
    }
    out.rows.row_of_feature.push_back(it->second);
  }
  return out;
}

// Ratings batch: example e = (user, item, rating). Keys are the raw ids (distinct per field).
Batch RatingsBatch(const std::vector<std::tuple<uint64_t, uint64_t, float>>& ratings) {
  Batch b;
  for (const auto& [user, item, rating] : ratings) {
    b.AddFeature(user, 1.0f, MfModel::kUserField);
    b.AddFeature(item, 1.0f, MfModel::kItemField);
    b.EndExample(rating);
  }
  return b;
}

Batch RandomRatings(std::mt19937* rng, int n, int users, int items) {
  std::uniform_int_distribution<int> user(0, users - 1), item(0, items - 1), star(1, 5);
  std::vector<std::tuple<uint64_t, uint64_t, float>> r;
  for (int i = 0; i < n; ++i) r.emplace_back(user(*rng), 1000 + item(*rng), star(*rng));
  return RatingsBatch(r);
}

MfOptions SmallMf() {
  MfOptions o;
  o.dim = 4;
  o.reg = 0.1f;
  o.bias_reg = 0.03f;
  o.global_mean = 3.0f;
  return o;
}

// ------------------------------------------------------------------------- gradient checks

TEST(ModelsTest, MfGradientMatchesFiniteDifferences) {
  std::mt19937 rng(7);
  MfModel model(SmallMf());
  Batch batch = RandomRatings(&rng, 12, 4, 5);  // repeated users and items in one batch
  // One example with its item missing, one with an ignored extra field.
  batch.AddFeature(2, 1.0f, MfModel::kUserField);
  batch.EndExample(4.0f);
  batch.AddFeature(1, 1.0f, MfModel::kUserField);
  batch.AddFeature(1001, 1.0f, MfModel::kItemField);
  batch.AddFeature(77, 1.0f, 5);
  batch.EndExample(2.0f);
  TestRows rows = PullTestRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows.rows);
}

TEST(ModelsTest, MfExampleStepsMatchTheBatchPath) {
  std::mt19937 rng(17);
  MfModel model(SmallMf());
  Batch batch = RandomRatings(&rng, 12, 4, 5);
  batch.AddFeature(2, 1.0f, MfModel::kUserField);  // no item
  batch.EndExample(4.0f);
  batch.AddFeature(1, 1.0f, MfModel::kUserField);
  batch.AddFeature(1001, 1.0f, MfModel::kItemField);
  batch.AddFeature(77, 1.0f, 5);  // a field MF ignores
  batch.EndExample(2.0f);
  TestRows rows = PullTestRows(model, batch, &rng, 0.5f);
  ExpectExampleStepsMatchBatch(model, batch, rows.rows);
}

// The pair step (block training) is the batch path on a batch of one rating: the same loss,
// the same gradients on both rows and on the global mean, for every rating of a batch.
// Every dimension the kernel specialises (32, 64, 128) and a run-time one with a tail that
// fills no whole lane group (4, 20).
TEST(ModelsTest, MfPairStepsMatchTheBatchPath) {
  for (uint32_t dim : {4u, 20u, 32u, 64u, 128u}) {
  SCOPED_TRACE("dim " + std::to_string(dim));
  std::mt19937 rng(23 + dim);
  MfOptions options = SmallMf();
  options.dim = dim;
  MfModel model(options);
  int user_table = -1, item_table = -1;
  ASSERT_TRUE(model.PairTables(&user_table, &item_table));
  EXPECT_EQ(user_table, MfModel::kUserTable);
  EXPECT_EQ(item_table, MfModel::kItemTable);
  Batch batch = RandomRatings(&rng, 10, 4, 5);
  TestRows rows = PullTestRows(model, batch, &rng, 0.5f);
  const int width = static_cast<int>(dim) + 1;
  for (size_t e = 0; e < batch.size(); ++e) {
    Batch one;
    for (uint32_t f = batch.offsets[e]; f < batch.offsets[e + 1]; ++f) one.AddFeature(batch.keys[f], 1.0f, batch.fields[f]);
    one.EndExample(batch.labels[e]);
    PulledRows pr = rows.rows;
    pr.row_of_feature = {rows.rows.row_of_feature[batch.offsets[e]], rows.rows.row_of_feature[batch.offsets[e] + 1]};
    Gradients want = ZeroGradients(pr);
    const LossSum want_loss = model.ForwardBackward(one, 0, 1, pr, &want);
    const int32_t u = pr.row_of_feature[0], i = pr.row_of_feature[1];
    std::vector<float> gu(width, 123.0f), gi(width, -7.0f);  // written, not added to
    std::vector<std::vector<float>> dense(3), dense_grad(3);
    dense[MfModel::kGlobalTable] = rows.rows.rows[MfModel::kGlobalTable];
    dense_grad[MfModel::kGlobalTable].assign(1, 0.0f);
    const double loss = model.PairForwardBackward(pr.Row(user_table, u, width), pr.Row(item_table, i, width), batch.labels[e],
                                                  gu.data(), gi.data(), dense.data(), dense_grad.data());
    EXPECT_NEAR(loss, want_loss.loss, 1e-6 * std::max(1.0, std::abs(want_loss.loss))) << "rating " << e;
    for (int c = 0; c < width; ++c) {
      // Relative: the sums run in another order, and at dim 128 a gradient reaches ~20.
      const float wu = want.Row(user_table, u, width)[c], wi = want.Row(item_table, i, width)[c];
      EXPECT_NEAR(gu[c], wu, 1e-6 * std::max(1.0f, std::abs(wu))) << "rating " << e << " user column " << c;
      EXPECT_NEAR(gi[c], wi, 1e-6 * std::max(1.0f, std::abs(wi))) << "rating " << e << " item column " << c;
    }
    EXPECT_NEAR(dense_grad[MfModel::kGlobalTable][0], want.rows[MfModel::kGlobalTable][0], 1e-6);
  }
  }
}

// --bias_scale reaches MfOptions (and through a checkpoint's option text), is refused for other
// models and at 0.
TEST(ModelsTest, MfBiasScaleIsAnMfOptionThatRoundTrips) {
  ModelOptions o;
  o.bias_scale = 0.7f;
  std::unique_ptr<Model> m;
  ASSERT_TRUE(CreateModel("mf", o, &m).ok());
  EXPECT_FLOAT_EQ(dynamic_cast<const MfModel&>(*m).options().bias_scale, 0.7f);
  ModelOptions back;
  for (const auto& [name, value] : FormatModelOptions(o)) ASSERT_TRUE(SetModelOption(name, value, &back).ok()) << name;
  ASSERT_TRUE(back.bias_scale.has_value());
  EXPECT_EQ(*back.bias_scale, 0.7f);
  ASSERT_TRUE(CreateModel("mf", {}, &m).ok());
  EXPECT_FLOAT_EQ(dynamic_cast<const MfModel&>(*m).options().bias_scale, MfOptions().bias_scale);
  EXPECT_FALSE(CreateModel("fm", o, &m).ok());
  o.bias_scale = 0.0f;
  EXPECT_FALSE(CreateModel("mf", o, &m).ok());
}

TEST(ModelsTest, MfGlobalMeanGetsNoGradientWhenFrozen) {
  std::mt19937 rng(8);
  MfOptions o = SmallMf();
  o.learn_global_mean = false;
  MfModel model(o);
  Batch batch = RandomRatings(&rng, 6, 3, 3);
  TestRows rows = PullTestRows(model, batch, &rng, 0.5f);
  Gradients g = ZeroGradients(rows.rows);
  model.ForwardBackward(batch, 0, batch.size(), rows.rows, &g);
  EXPECT_EQ(g.rows[MfModel::kGlobalTable][0], 0.0f);
}

TEST(ModelsTest, LrGradientMatchesFiniteDifferences) {
  std::mt19937 rng(9);
  LogisticRegressionModel model{LogisticRegressionOptions()};
  Batch batch = RandomClicks(&rng, 10, 4, 3);
  TestRows rows = PullTestRows(model, batch, &rng, 0.7f);
  CheckGradients(model, batch, rows.rows);
}

TEST(ModelsTest, FmGradientMatchesFiniteDifferences) {
  std::mt19937 rng(10);
  FmOptions o;
  o.dim = 3;
  FmModel model(o);
  Batch batch = RandomClicks(&rng, 10, 4, 3);
  // The same key twice in one example: its pairwise term with itself must be differentiated
  // from both occurrences.
  batch.AddFeature(5, 0.8f, 0);
  batch.AddFeature(5, 1.2f, 1);
  batch.AddFeature(301, 1.0f, 3);
  batch.EndExample(1.0f);
  TestRows rows = PullTestRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows.rows);
}

// ------------------------------------------------------------------------- values by hand

TEST(ModelsTest, MfPredictionAndLossByHand) {
  MfOptions o;
  o.dim = 2;
  o.reg = 0.1f;
  o.bias_reg = 0.2f;
  o.global_mean = 3.0f;
  o.min_rating = 1.0f;
  o.max_rating = 5.0f;
  o.bias_scale = 2.0f;  // bias columns hold b / 2
  MfModel model(o);
  // Users 1, 2, 3; items 10, 20.
  Batch batch = RatingsBatch({{1, 10, 4.0f}, {2, 20, 1.0f}, {3, 10, 5.0f}});
  PulledRows rows;
  rows.rows.resize(3);
  //             p0    p1    b_u / 2
  rows.rows[0] = {0.5f, 1.0f, 0.125f,    // user 1: b_u = 0.25
                  2.0f, 2.0f, 0.5f,      // user 2: b_u = 1
                  -2.0f, 0.0f, -0.5f};   // user 3: b_u = -1
  //             q0    q1    b_i / 2
  rows.rows[1] = {1.0f, 0.5f, -0.25f,    // item 10: b_i = -0.5
                  1.0f, 1.0f, 0.25f};    // item 20: b_i = 0.5
  rows.rows[2] = {0.5f};                 // mu = 3.0 + 0.5
  rows.row_of_feature = {0, 0, 1, 1, 2, 0};

  // pred(1,10) = 3.5 + 0.25 - 0.5 + (0.5 + 0.5) = 4.25          -> 4.25
  // pred(2,20) = 3.5 + 1 + 0.5 + (2 + 2) = 9.0                   -> clipped to 5
  // pred(3,10) = 3.5 - 1 - 0.5 + (-2 + 0) = 0.0                  -> clipped to 1
  float preds[3];
  model.Predict(batch, 0, 3, rows, preds);
  EXPECT_FLOAT_EQ(preds[0], 4.25f);
  EXPECT_FLOAT_EQ(preds[1], 5.0f);
  EXPECT_FLOAT_EQ(preds[2], 1.0f);

  // Loss of the first example alone, unclipped:
  // 0.5*(4.25-4)^2 + 0.5*0.1*(0.25+1 + 1+0.25) + 0.5*0.2*(0.0625+0.25)
  Gradients g = ZeroGradients(rows);
  const LossSum one = model.ForwardBackward(batch, 0, 1, rows, &g);
  EXPECT_EQ(one.examples, 1u);
  EXPECT_NEAR(one.loss, 0.03125 + 0.125 + 0.03125, 1e-6);
  // Second example is NOT clipped in training: err = 9 - 1 = 8.
  g = ZeroGradients(rows);
  const LossSum two = model.ForwardBackward(batch, 1, 2, rows, &g);
  EXPECT_NEAR(two.loss, 0.5 * 64 + 0.5 * 0.1 * (8 + 2) + 0.5 * 0.2 * (1 + 0.25), 1e-5);
  // d/d b_u = err + bias_reg * b_u = 8 + 0.2, times 2 for the stored column b_u / 2;
  // d/d mu = 8; d/d q_20[0] = 8*2 + 0.1*1.
  EXPECT_NEAR(g.rows[0][3 + 2], 16.4, 1e-5);
  EXPECT_NEAR(g.rows[2][0], 8.0, 1e-5);
  EXPECT_NEAR(g.rows[1][3 + 0], 16.1, 1e-5);
}

TEST(ModelsTest, LrPredictionAndLossByHand) {
  LogisticRegressionModel model{LogisticRegressionOptions()};
  Batch batch;
  batch.AddFeature(7, 2.0f, 0);
  batch.AddFeature(9, 1.0f, 1);
  batch.EndExample(1.0f);
  batch.AddFeature(9, 1.0f, 1);
  batch.EndExample(-1.0f);  // libsvm negative: counts as 0
  PulledRows rows;
  rows.rows = {{0.5f, -0.25f}, {0.1f}};
  rows.row_of_feature = {0, 1, 1};
  // z0 = 0.1 + 0.5*2 - 0.25 = 0.85 ; z1 = 0.1 - 0.25 = -0.15
  const double p0 = 1 / (1 + std::exp(-0.85)), p1 = 1 / (1 + std::exp(0.15));
  float preds[2];
  model.Predict(batch, 0, 2, rows, preds);
  EXPECT_NEAR(preds[0], p0, 1e-6);
  EXPECT_NEAR(preds[1], p1, 1e-6);
  Gradients g = ZeroGradients(rows);
  const LossSum sum = model.ForwardBackward(batch, 0, 2, rows, &g);
  EXPECT_NEAR(sum.loss, -std::log(p0) - std::log(1 - p1), 1e-9);
  EXPECT_NEAR(g.rows[0][0], (p0 - 1) * 2, 1e-6);
  EXPECT_NEAR(g.rows[0][1], (p0 - 1) + p1, 1e-6);
  EXPECT_NEAR(g.rows[1][0], (p0 - 1) + p1, 1e-6);
}

TEST(ModelsTest, ClickModelsPredictInsideUnitIntervalAndLossStaysFinite) {
  LogisticRegressionModel lr{LogisticRegressionOptions()};
  Batch batch;
  batch.AddFeature(1, 1.0f, 0);
  batch.EndExample(0.0f);  // logit +1000 with label 0: loss ~1000, not inf
  batch.AddFeature(2, 1.0f, 0);
  batch.EndExample(1.0f);  // logit -1000 with label 1
  PulledRows rows;
  rows.rows = {{1000.0f, -1000.0f}, {0.0f}};
  rows.row_of_feature = {0, 1};
  float preds[2];
  lr.Predict(batch, 0, 2, rows, preds);
  for (float p : preds) {
    EXPECT_GT(p, 0.0f);
    EXPECT_LT(p, 1.0f);
  }
  Gradients g = ZeroGradients(rows);
  const LossSum sum = lr.ForwardBackward(batch, 0, 2, rows, &g);
  EXPECT_NEAR(sum.loss, 2000.0, 1e-6);
  EXPECT_NEAR(g.rows[0][0], 1.0, 1e-9);
  EXPECT_NEAR(g.rows[0][1], -1.0, 1e-9);

  std::mt19937 rng(11);
  FmOptions o;
  o.dim = 4;
  FmModel fm(o);
  Batch clicks = RandomClicks(&rng, 50, 6, 4);
  TestRows fm_rows = PullTestRows(fm, clicks, &rng, 3.0f);  // large weights: saturated logits
  std::vector<float> fm_preds(clicks.size());
  fm.Predict(clicks, 0, clicks.size(), fm_rows.rows, fm_preds.data());
  for (float p : fm_preds) {
    EXPECT_GT(p, 0.0f);
    EXPECT_LT(p, 1.0f);
  }
  EXPECT_TRUE(std::isfinite(Loss(fm, clicks, fm_rows.rows)));
}

TEST(ModelsTest, FmLogitMatchesPairwiseSum) {
  std::mt19937 rng(12);
  FmOptions o;
  o.dim = 3;
  FmModel model(o);
  Batch batch = RandomClicks(&rng, 8, 5, 3);
  TestRows rows = PullTestRows(model, batch, &rng, 0.4f);
  std::vector<float> preds(batch.size());
  model.Predict(batch, 0, batch.size(), rows.rows, preds.data());
  const int width = 4;
  for (size_t e = 0; e < batch.size(); ++e) {
    // Direct O(n^2 K) definition.
    double z = rows.rows.rows[FmModel::kBiasTable][0];
    const uint32_t lo = batch.offsets[e], hi = batch.offsets[e + 1];
    for (uint32_t i = lo; i < hi; ++i) {
      const float* vi = rows.rows.Row(0, rows.rows.row_of_feature[i], width);
      z += vi[0] * batch.values[i];
      for (uint32_t j = i + 1; j < hi; ++j) {
        const float* vj = rows.rows.Row(0, rows.rows.row_of_feature[j], width);
        double dot = 0;
        for (int k = 1; k < width; ++k) dot += vi[k] * vj[k];
        z += dot * batch.values[i] * batch.values[j];
      }
    }
    EXPECT_NEAR(preds[e], 1 / (1 + std::exp(-z)), 1e-6) << "example " << e;
  }
}

TEST(ModelsTest, SplitRangesSumToWholeBatch) {
  // The worker runs ForwardBackward on disjoint ranges with separate Gradients and adds them.
  std::mt19937 rng(13);
  FmOptions o;
  o.dim = 2;
  FmModel model(o);
  Batch batch = RandomClicks(&rng, 20, 3, 4);
  TestRows rows = PullTestRows(model, batch, &rng, 0.3f);
  Gradients whole = ZeroGradients(rows.rows), a = ZeroGradients(rows.rows),
            b = ZeroGradients(rows.rows);
  const LossSum all = model.ForwardBackward(batch, 0, 20, rows.rows, &whole);
  const LossSum first = model.ForwardBackward(batch, 0, 7, rows.rows, &a);
  const LossSum second = model.ForwardBackward(batch, 7, 20, rows.rows, &b);
  EXPECT_EQ(first.examples + second.examples, all.examples);
  EXPECT_NEAR(first.loss + second.loss, all.loss, 1e-9);
  for (size_t t = 0; t < whole.rows.size(); ++t) {
    for (size_t j = 0; j < whole.rows[t].size(); ++j) {
      EXPECT_NEAR(a.rows[t][j] + b.rows[t][j], whole.rows[t][j], 1e-5);
    }
  }
}

// ------------------------------------------------------------------------- tiny training runs

// Plain SGD done by the test: pull (from a key -> weights map standing in for the servers),
// compute, update. Returns the mean loss of each epoch.
std::vector<double> TrainSgd(const Model& model, const std::vector<Batch>& batches, float lr,
                             int epochs, float init_scale, uint32_t seed) {
  const std::vector<TableConfig> tables = model.Tables();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::map<uint64_t, std::vector<float>>> store(tables.size());
  std::vector<std::vector<float>> dense(tables.size());
  for (size_t t = 0; t < tables.size(); ++t) {
    if (tables[t].dense) dense[t].assign(tables[t].dense_size, 0.0f);
  }
  std::vector<double> losses;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    double loss = 0;
    size_t examples = 0;
    for (const Batch& batch : batches) {
      PulledRows rows;
      rows.rows.resize(tables.size());
      std::vector<std::vector<uint64_t>> keys(tables.size());
      std::vector<std::map<uint64_t, int32_t>> slot(tables.size());
      for (size_t t = 0; t < tables.size(); ++t) {
        if (tables[t].dense) rows.rows[t] = dense[t];
      }
      for (size_t f = 0; f < batch.num_features(); ++f) {
        const int t = model.TableOfField(batch.fields[f]);
        auto [it, inserted] = slot[t].emplace(batch.keys[f], static_cast<int32_t>(keys[t].size()));
        if (inserted) {
          keys[t].push_back(batch.keys[f]);
          auto [row, fresh] = store[t].emplace(batch.keys[f], std::vector<float>());
          if (fresh) {
            for (uint32_t j = 0; j < tables[t].dim; ++j) {
              row->second.push_back(tables[t].init.kind == InitKind::kZero ? 0.0f
                                                                           : init_scale * normal(rng));
            }
          }
          rows.rows[t].insert(rows.rows[t].end(), row->second.begin(), row->second.end());
        }
        rows.row_of_feature.push_back(it->second);
      }
      Gradients grads = ZeroGradients(rows);
      const LossSum sum = model.ForwardBackward(batch, 0, batch.size(), rows, &grads);
      loss += sum.loss;
      examples += sum.examples;
      for (size_t t = 0; t < tables.size(); ++t) {
        if (tables[t].dense) {
          for (size_t j = 0; j < dense[t].size(); ++j) dense[t][j] -= lr * grads.rows[t][j];
          continue;
        }
        for (size_t r = 0; r < keys[t].size(); ++r) {
          std::vector<float>& w = store[t][keys[t][r]];
          for (uint32_t j = 0; j < tables[t].dim; ++j) w[j] -= lr * grads.rows[t][r * tables[t].dim + j];
        }
      }
    }
    losses.push_back(loss / examples);
  }
  return losses;
}

TEST(ModelsTest, MfLearnsLowRankRatings) {
  // 20 users x 20 items, ratings = 3 + <a_u, b_i> with rank-2 factors; 60% of cells observed.
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.0f, 0.7f);
  std::uniform_real_distribution<float> coin(0.0f, 1.0f);
  std::vector<std::array<float, 2>> a(20), b(20);
  for (auto& v : a) v = {normal(rng), normal(rng)};
  for (auto& v : b) v = {normal(rng), normal(rng)};
  std::vector<std::tuple<uint64_t, uint64_t, float>> ratings;
  for (int u = 0; u < 20; ++u) {
    for (int i = 0; i < 20; ++i) {
      if (coin(rng) < 0.6f) ratings.emplace_back(u, 100 + i, 3 + a[u][0] * b[i][0] + a[u][1] * b[i][1]);
    }
  }
  std::shuffle(ratings.begin(), ratings.end(), rng);
  std::vector<Batch> batches;
  for (size_t s = 0; s < ratings.size(); s += 8) {
    batches.push_back(RatingsBatch({ratings.begin() + s, ratings.begin() + std::min(s + 8, ratings.size())}));
  }
  MfOptions o;
  o.dim = 4;
  o.reg = 0.001f;
  o.bias_reg = 0.0f;
  o.bias_scale = 1.0f;  // plain SGD is not scale-invariant: a bias scale would multiply its step
  o.global_mean = 3.0f;
  MfModel model(o);
  const std::vector<double> losses = TrainSgd(model, batches, 0.05f, 150, 0.3f, 3);
  EXPECT_LT(losses.back(), losses.front() / 20) << losses.front() << " -> " << losses.back();
}

// Two one-hot fields of two values each; click iff the two values agree (an XOR). No linear
// model can do better than chance; an FM with K >= 1 can fit it exactly.
std::vector<Batch> XorClicks() {
  std::vector<Batch> batches;
  for (int rep = 0; rep < 25; ++rep) {
    Batch b;
    for (int a = 0; a < 2; ++a) {
      for (int c = 0; c < 2; ++c) {
        b.AddFeature(10 + a, 1.0f, 0);
        b.AddFeature(20 + c, 1.0f, 1);
        b.EndExample(a == c ? 1.0f : 0.0f);
      }
    }
    batches.push_back(b);
  }
  return batches;
}

TEST(ModelsTest, FmLearnsInteractionThatLrCannot) {
  FmOptions o;
  o.dim = 2;
  FmModel fm(o);
  const std::vector<double> fm_losses = TrainSgd(fm, XorClicks(), 0.1f, 60, 0.3f, 5);
  EXPECT_LT(fm_losses.back(), 0.1) << fm_losses.front() << " -> " << fm_losses.back();
  EXPECT_LT(fm_losses.back(), fm_losses.front() / 5);

  LogisticRegressionModel lr{LogisticRegressionOptions()};
  const std::vector<double> lr_losses = TrainSgd(lr, XorClicks(), 0.1f, 60, 0.0f, 5);
  EXPECT_GT(lr_losses.back(), 0.69);  // ln 2: chance
}

TEST(ModelsTest, LrLearnsSeparableData) {
  // 8 fields with 3 values each; the label is 1 iff the weighted sum of a hidden weight per
  // value is positive (separable by construction).
  std::mt19937 rng(31);
  std::uniform_int_distribution<int> pick(0, 2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> hidden(8 * 3);
  for (float& h : hidden) h = normal(rng);
  std::vector<Batch> batches(20);
  for (Batch& b : batches) {
    for (int e = 0; e < 16; ++e) {
      float score = 0;
      for (int f = 0; f < 8; ++f) {
        const int v = pick(rng);
        b.AddFeature(static_cast<uint64_t>(f * 3 + v), 1.0f, static_cast<uint16_t>(f));
        score += hidden[f * 3 + v];
      }
      b.EndExample(score > 0 ? 1.0f : 0.0f);
    }
  }
  LogisticRegressionModel lr{LogisticRegressionOptions()};
  const std::vector<double> losses = TrainSgd(lr, batches, 0.05f, 40, 0.0f, 7);
  // Zero weights give ln 2 per example; the first epoch's mean is already lower because the
  // model learns during it.
  EXPECT_LT(losses.back(), std::log(2.0) / 4) << losses.front() << " -> " << losses.back();
  EXPECT_LT(losses.back(), losses.front() / 2) << losses.front() << " -> " << losses.back();
}

// ------------------------------------------------------------------------- factory

TEST(ModelsTest, FactoryBuildsDefaultsAndAppliesOptions) {
  std::unique_ptr<Model> model;
  ASSERT_TRUE(CreateModel("mf", ModelOptions(), &model).ok());
  EXPECT_EQ(model->name(), "mf");
  std::vector<TableConfig> tables = model->Tables();
  ASSERT_EQ(tables.size(), 3u);
  EXPECT_EQ(tables[0].name, "user");
  EXPECT_EQ(tables[0].dim, MfOptions().dim + 1);
  EXPECT_EQ(tables[0].optimizer.kind, OptimizerKind::kAdaGrad);
  EXPECT_EQ(tables[0].optimizer.l2, 0.0f);  // MF regularises in its gradient
  EXPECT_TRUE(tables[2].dense);
  EXPECT_EQ(model->TableOfField(1), 1);
  EXPECT_EQ(model->TableOfField(2), -1);

  ModelOptions o;
  o.dim = 16;
  o.l2 = 0.07f;
  o.min_rating = 0.5f;
  o.max_rating = 10.0f;
  ASSERT_TRUE(CreateModel("mf", o, &model).ok());
  const auto* mf = dynamic_cast<const MfModel*>(model.get());
  ASSERT_NE(mf, nullptr);
  EXPECT_EQ(mf->options().dim, 16u);
  EXPECT_FLOAT_EQ(mf->options().reg, 0.07f);
  EXPECT_FLOAT_EQ(mf->options().max_rating, 10.0f);

  ASSERT_TRUE(CreateModel("lr", ModelOptions(), &model).ok());
  tables = model->Tables();
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(tables[0].optimizer.kind, OptimizerKind::kFtrl);
  EXPECT_EQ(tables[1].optimizer.l1, 0.0f);  // the intercept is never sparsified
  EXPECT_TRUE(tables[1].dense);

  // LR switched to AdaGrad: the FTRL alpha is not kept, AdaGrad's usual step is used.
  ModelOptions adagrad;
  adagrad.optimizer = OptimizerKind::kAdaGrad;
  ASSERT_TRUE(CreateModel("lr", adagrad, &model).ok());
  tables = model->Tables();
  EXPECT_EQ(tables[0].optimizer.kind, OptimizerKind::kAdaGrad);
  EXPECT_FLOAT_EQ(tables[0].optimizer.lr, 0.05f);
  EXPECT_FLOAT_EQ(tables[1].optimizer.lr, 0.05f);

  ModelOptions step;
  step.lr = 0.07f;
  step.dim = 5;
  ASSERT_TRUE(CreateModel("fm", step, &model).ok());
  tables = model->Tables();
  EXPECT_EQ(tables[0].dim, 6u);
  EXPECT_EQ(tables[0].optimizer.kind, OptimizerKind::kAdaGrad);
  EXPECT_FLOAT_EQ(tables[0].optimizer.lr, 0.07f);
  EXPECT_GT(SuggestedEpochs("mf"), 0);
  EXPECT_EQ(SuggestedEpochs("nope"), 0);
}

TEST(ModelsTest, FactoryRejectsBadInput) {
  std::unique_ptr<Model> model;
  Status s = CreateModel("svd", ModelOptions(), &model);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("mf, lr, fm"), std::string::npos) << s.ToString();

  ModelOptions dim;
  dim.dim = 8;
  EXPECT_EQ(CreateModel("lr", dim, &model).code(), Status::Code::kInvalidArgument);
  dim.dim = 0;
  EXPECT_EQ(CreateModel("mf", dim, &model).code(), Status::Code::kInvalidArgument);

  ModelOptions range;
  range.min_rating = 5.0f;
  range.max_rating = 1.0f;
  EXPECT_EQ(CreateModel("mf", range, &model).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(CreateModel("fm", range, &model).code(), Status::Code::kInvalidArgument);

  ModelOptions lr;
  lr.lr = -1.0f;
  EXPECT_EQ(CreateModel("fm", lr, &model).code(), Status::Code::kInvalidArgument);

  OptimizerKind kind;
  EXPECT_TRUE(ParseOptimizerKind("ftrl", &kind).ok());
  EXPECT_EQ(kind, OptimizerKind::kFtrl);
  EXPECT_EQ(ParseOptimizerKind("lbfgs", &kind).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace embark
