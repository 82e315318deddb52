// Tests of the implicit-feedback models (ImplicitMfModel "imf", TwoTowerModel "two_tower"):
// gradients against finite differences, losses by hand, the in-batch negative rules, the
// ranking vectors against the training score, and their factory entries.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "models/implicit_mf.h"
#include "models/interaction_fields.h"
#include "models/model_factory.h"
#include "models/two_tower.h"
#include "tests/model_test_util.h"

namespace embark {
namespace {

// Interactions of `users` users and `items` items; item i has category i % 3 (field 32) and a
// tag (field 33, value 0.5..1.5); user u has segment u % 2 (field 2). Repeats happen. With
// `shared`, shared field 64 holds word (u % 3) before the item id (the user's history) and word
// (i % 3) after it (the item's), from one vocabulary, so some rows serve both sides.
Batch RandomInteractions(std::mt19937* rng, int n, int users, int items, bool side_features,
                         bool shared = false) {
  std::uniform_int_distribution<int> user(0, users - 1), item(0, items - 1);
  std::uniform_real_distribution<float> x(0.5f, 1.5f);
  Batch b;
  for (int e = 0; e < n; ++e) {
    const int u = user(*rng), i = item(*rng);
    b.AddFeature(1000 + u, 1.0f, kUserIdField);
    if (side_features) b.AddFeature(3000 + u % 2, 1.0f, 2);
    if (shared) b.AddFeature(6000 + u % 3, 1.0f, kFirstSharedField);
    b.AddFeature(2000 + i, 1.0f, kItemIdField);
    if (side_features) {
      b.AddFeature(4000 + i % 3, 1.0f, 32);
      b.AddFeature(5000 + i % 2, x(*rng), 33);
      b.AddFeature(9000, 1.0f, 120);  // a field neither tower uses
    }
    if (shared) b.AddFeature(6000 + i % 3, 1.0f, kFirstSharedField);
    b.EndExample(1.0f);
  }
  return b;
}

ImplicitMfOptions SmallImf() {
  ImplicitMfOptions o;
  o.dim = 3;
  o.negatives = 3;
  o.reg = 0.05f;
  o.bias_reg = 0.02f;
  return o;
}

TEST(ImplicitMfTest, GradientMatchesFiniteDifferences) {
  std::mt19937 rng(21);
  ImplicitMfModel model(SmallImf());
  Batch batch = RandomInteractions(&rng, 12, 4, 6, false);
  batch.AddFeature(1001, 1.0f, kUserIdField);  // an example without its item
  batch.EndExample(1.0f);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

// The loss of a batch recomputed from the documented rules with the exposed negative positions.
TEST(ImplicitMfTest, LossFollowsTheNegativeRules) {
  ImplicitMfOptions o = SmallImf();
  o.dim = 1;
  o.reg = 0;
  o.bias_reg = 0;
  o.negatives = 2;
  ImplicitMfModel model(o);
  // (user, item): users 1 and 2 share item 10.
  const int users[] = {1, 1, 2, 3, 4};
  const int items[] = {10, 11, 10, 12, 13};
  Batch batch;
  for (int e = 0; e < 5; ++e) {
    batch.AddFeature(users[e], 1.0f, kUserIdField);
    batch.AddFeature(100 + items[e], 1.0f, kItemIdField);
    batch.EndExample(1.0f);
  }
  PulledRows rows;
  rows.rows.resize(2);
  rows.rows[0] = {0.5f, -1.0f, 2.0f, 0.25f};                        // p of users 1, 2, 3, 4
  rows.rows[1] = {1.0f, 0.1f, -0.5f, 0.2f, 0.3f, 0.0f, 2.0f, -1.0f};  // (q, b) of items 10..13
  rows.row_of_feature = {0, 0, 0, 1, 1, 0, 2, 2, 3, 3};
  const int user_row[] = {0, 0, 1, 2, 3};
  const int item_row[] = {0, 1, 0, 2, 3};
  double expected = 0;
  int skipped = 0;
  for (int e = 0; e < 5; ++e) {
    std::vector<int> negatives;
    for (uint32_t s = 0; s < o.negatives; ++s) {
      for (int a = 0; a < ImplicitMfModel::kNegativeAttempts; ++a) {
        const int j = static_cast<int>(ImplicitMfModel::NegativeRow(e, s, a, 4));  // 4 distinct items
        ASSERT_LT(j, 4);
        if (j == item_row[e]) {
          ++skipped;
          continue;
        }
        negatives.push_back(j);
        break;
      }
    }
    const double p = rows.rows[0][user_row[e]];
    auto score = [&](int i) { return p * rows.rows[1][2 * i] + rows.rows[1][2 * i + 1]; };
    for (int j : negatives) expected += std::log1p(std::exp(-(score(item_row[e]) - score(j)))) / negatives.size();
  }
  EXPECT_GT(skipped, 0);  // the rule was exercised (this batch draws the positive at least once)
  Gradients g = ZeroGradients(rows);
  EXPECT_NEAR(model.ForwardBackward(batch, 0, 5, rows, &g).loss, expected, 1e-5);
  EXPECT_GT(expected, 0.0);
  // The same batch split over two calls gives the same total (negatives come from the whole
  // batch's rows).
  Gradients g2 = ZeroGradients(rows);
  const double split = model.ForwardBackward(batch, 0, 2, rows, &g2).loss + model.ForwardBackward(batch, 2, 5, rows, &g2).loss;
  EXPECT_NEAR(split, expected, 1e-5);
  for (size_t t = 0; t < 2; ++t)
    for (size_t j = 0; j < g.rows[t].size(); ++j) EXPECT_NEAR(g.rows[t][j], g2.rows[t][j], 1e-6);
}

TEST(ImplicitMfTest, VectorsScoreLikeTheModel) {
  std::mt19937 rng(22);
  ImplicitMfModel model(SmallImf());
  Batch batch = RandomInteractions(&rng, 6, 3, 4, false);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  const int d = model.VectorDim();
  ASSERT_EQ(d, 4);
  std::vector<float> u(6 * d), v(6 * d), preds(6);
  model.UserVectors(batch, 0, 6, rows, u.data());
  model.ItemVectors(batch, 0, 6, rows, v.data());
  model.Predict(batch, 0, 6, rows, preds.data());
  for (int e = 0; e < 6; ++e) {
    double dot = 0;
    for (int c = 0; c < d; ++c) dot += double{u[e * d + c]} * v[e * d + c];
    EXPECT_NEAR(1.0 / (1.0 + std::exp(-dot)), preds[e], 1e-6);
  }
}

TEST(ImplicitMfTest, SideFeaturesGradientMatchesFiniteDifferences) {
  std::mt19937 rng(23);
  ImplicitMfOptions o = SmallImf();
  o.side_features = true;
  ImplicitMfModel model(o);
  Batch batch = RandomInteractions(&rng, 10, 4, 5, true, true);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

// Each side's vector is the sum of its rows / sqrt(count); a shared-field token is one row of
// the item table whichever side it is on; fields of neither side are not pulled.
TEST(ImplicitMfTest, SideFeaturesPoolBySqrtCountAndShareRows) {
  ImplicitMfOptions o = SmallImf();
  o.dim = 2;
  o.side_features = true;
  ImplicitMfModel model(o);
  EXPECT_EQ(model.TableOfField(kFirstSharedField), ImplicitMfModel::kItemTable);
  EXPECT_EQ(model.TableOfField(2), ImplicitMfModel::kUserTable);
  EXPECT_EQ(model.TableOfField(120), -1);
  Batch batch;
  // user 10, segment 11, history word 12 | item 20, word 12 (the same key as the history word)
  batch.AddFeature(10, 1.0f, kUserIdField);
  batch.AddFeature(11, 1.0f, 2);
  batch.AddFeature(12, 1.0f, kFirstSharedField);
  batch.AddFeature(20, 1.0f, kItemIdField);
  batch.AddFeature(12, 1.0f, kFirstSharedField);
  batch.EndExample(1.0f);
  PulledRows rows;
  rows.rows = {{1, 2, 3, 4}, {10, 20, 30, /*item 20*/ 5, 7, 9}};  // user: 10, 11; item: 12, 20
  rows.row_of_feature = {0, 1, 0, 1, 0};
  std::vector<float> u(3), v(3);
  model.UserVectors(batch, 0, 1, rows, u.data());
  model.ItemVectors(batch, 0, 1, rows, v.data());
  const float s3 = std::sqrt(3.0f), s2 = std::sqrt(2.0f);
  EXPECT_NEAR(u[0], (1 + 3 + 10) / s3, 1e-5);
  EXPECT_NEAR(u[1], (2 + 4 + 20) / s3, 1e-5);
  EXPECT_EQ(u[2], 1.0f);
  EXPECT_NEAR(v[0], (5 + 10) / s2, 1e-5);
  EXPECT_NEAR(v[1], (7 + 20) / s2, 1e-5);
  EXPECT_NEAR(v[2], (9 + 30) / s2, 1e-5);  // bias: both item-side rows' last column
}

TEST(InteractionFieldsTest, SharedFieldsTakeTheSideOfTheirPosition) {
  Batch b;
  b.AddFeature(1, 1.0f, kFirstSharedField);  // before the item id: the user's
  b.AddFeature(2, 1.0f, kUserIdField);
  b.AddFeature(3, 1.0f, kItemIdField);
  b.AddFeature(4, 1.0f, kLastSharedField);   // after it: the item's
  b.AddFeature(5, 1.0f, 40);
  b.AddFeature(6, 1.0f, 96);                 // no side
  b.EndExample(1.0f);
  b.AddFeature(7, 1.0f, kFirstSharedField);  // no item id: a user query
  b.EndExample(1.0f);
  const uint32_t p0 = ItemIdPosition(b, 0), p1 = ItemIdPosition(b, 1);
  EXPECT_EQ(p0, 2u);
  EXPECT_EQ(p1, 7u);
  const InteractionSide want[] = {InteractionSide::kUser, InteractionSide::kUser, InteractionSide::kItem,
                                  InteractionSide::kItem, InteractionSide::kItem, InteractionSide::kNone};
  for (uint32_t f = 0; f < 6; ++f) EXPECT_EQ(SideOf(b.fields[f], f, p0), want[f]) << f;
  EXPECT_EQ(SideOf(b.fields[6], 6, p1), InteractionSide::kUser);
}

TwoTowerOptions SmallTwoTower() {
  TwoTowerOptions o;
  o.dim = 3;
  o.out_dim = 3;
  o.hidden = {4};
  o.temperature = 0.5f;
  o.reg = 0.03f;
  return o;
}

TEST(TwoTowerTest, GradientMatchesFiniteDifferencesCosineWithLogQ) {
  std::mt19937 rng(31);
  TwoTowerOptions o = SmallTwoTower();
  o.score = TwoTowerScore::kCosine;
  o.logq_correction = true;
  TwoTowerModel model(o);
  Batch batch = RandomInteractions(&rng, 9, 4, 4, true);  // repeated items: masked columns
  batch.AddFeature(2001, 1.0f, kItemIdField);            // an example without a user
  batch.EndExample(1.0f);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

TEST(TwoTowerTest, GradientMatchesFiniteDifferencesDot) {
  std::mt19937 rng(32);
  TwoTowerOptions o = SmallTwoTower();
  o.score = TwoTowerScore::kDot;
  o.hidden = {};
  TwoTowerModel model(o);
  Batch batch = RandomInteractions(&rng, 8, 5, 6, true);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

TEST(TwoTowerTest, GradientMatchesFiniteDifferencesWithSharedFields) {
  std::mt19937 rng(36);
  TwoTowerOptions o = SmallTwoTower();
  o.hidden = {};  // linear towers: no ReLU kink for the finite differences to straddle
  TwoTowerModel model(o);
  EXPECT_EQ(model.TableOfField(kFirstSharedField), TwoTowerModel::kItemEmbeddingTable);
  Batch batch = RandomInteractions(&rng, 8, 4, 5, true, true);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

TEST(TwoTowerTest, InBatchSoftmaxByHand) {
  TwoTowerOptions o;
  o.dim = 2;
  o.out_dim = 2;
  o.hidden = {};
  o.score = TwoTowerScore::kDot;
  o.temperature = 1.0f;
  o.logq_correction = false;
  o.reg = 0.0f;
  TwoTowerModel model(o);
  // Two examples, one feature per tower; the output layer is the identity, so the vectors are
  // the embeddings: u1 = (1, 0), a = (1, 0); u2 = (0, 1), b = (0, 2).
  Batch batch;
  batch.AddFeature(1, 1.0f, kUserIdField);
  batch.AddFeature(10, 1.0f, kItemIdField);
  batch.EndExample(1.0f);
  batch.AddFeature(2, 1.0f, kUserIdField);
  batch.AddFeature(20, 1.0f, kItemIdField);
  batch.EndExample(1.0f);
  const std::vector<TableConfig> tables = model.Tables();
  ASSERT_EQ(tables.size(), 6u);
  PulledRows rows;
  rows.rows.resize(tables.size());
  rows.rows[0] = {1, 0, 0, 1};
  rows.rows[1] = {1, 0, 0, 2};
  rows.rows[model.LayerTable(0, 0)] = {1, 0, 0, 1};
  rows.rows[model.LayerTable(1, 0)] = {1, 0, 0, 1};
  rows.rows[model.BiasTable(0)] = {0, 0};
  rows.rows[model.BiasTable(1)] = {0, 0};
  rows.row_of_feature = {0, 0, 1, 1};
  // logits: example 1 (1, 0) -> log(1 + e^-1); example 2 (0, 2) -> log(1 + e^-2).
  Gradients g = ZeroGradients(rows);
  EXPECT_NEAR(model.ForwardBackward(batch, 0, 2, rows, &g).loss, std::log1p(std::exp(-1.0)) + std::log1p(std::exp(-2.0)), 1e-6);
  // The same item in both examples: neither has a negative left, the loss is 0.
  Batch same = batch;
  same.keys[3] = 10;
  PulledRows same_rows = rows;
  same_rows.row_of_feature = {0, 0, 1, 0};
  g = ZeroGradients(same_rows);
  EXPECT_NEAR(model.ForwardBackward(same, 0, 2, same_rows, &g).loss, 0.0, 1e-9);
  // Ranking vectors are the towers' outputs.
  std::vector<float> u(4), v(4);
  model.UserVectors(batch, 0, 2, rows, u.data());
  model.ItemVectors(batch, 0, 2, rows, v.data());
  EXPECT_EQ(u, (std::vector<float>{1, 0, 0, 1}));
  EXPECT_EQ(v, (std::vector<float>{1, 0, 0, 2}));
}

TEST(TwoTowerTest, GradientMatchesFiniteDifferencesIdentityWithItemBiasAndLogQ) {
  std::mt19937 rng(37);
  TwoTowerOptions o = SmallTwoTower();
  o.tower = TwoTowerTower::kIdentity;
  o.item_bias = true;
  o.logq_correction = true;
  TwoTowerModel model(o);
  EXPECT_EQ(model.Tables().size(), 2u);  // no weight tables
  EXPECT_EQ(model.Tables()[TwoTowerModel::kItemEmbeddingTable].dim, 4u);  // K + bias
  Batch batch = RandomInteractions(&rng, 8, 4, 4, true, true);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

TEST(TwoTowerTest, GradientMatchesFiniteDifferencesResidualWithItemBias) {
  std::mt19937 rng(38);
  TwoTowerOptions o = SmallTwoTower();
  o.tower = TwoTowerTower::kResidual;
  o.item_bias = true;
  o.logq_correction = false;
  o.hidden = {};  // the output layer alone: no ReLU kink
  TwoTowerModel model(o);
  Batch batch = RandomInteractions(&rng, 8, 4, 5, true, true);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

TEST(TwoTowerTest, GradientMatchesFiniteDifferencesResidualCosineHidden) {
  std::mt19937 rng(39);
  TwoTowerOptions o = SmallTwoTower();
  o.tower = TwoTowerTower::kResidual;
  o.score = TwoTowerScore::kCosine;
  o.item_bias = true;
  TwoTowerModel model(o);
  Batch batch = RandomInteractions(&rng, 7, 3, 4, true);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  CheckGradients(model, batch, rows);
}

// Identity towers pool by sum / sqrt(count); with item_bias the ranking vectors are (u, 1) and
// (i, b_i), b_i the last column of the item id's row only (not of the item's word rows).
TEST(TwoTowerTest, IdentityTowersWithItemBiasByHand) {
  TwoTowerOptions o;
  o.dim = o.out_dim = 2;
  o.tower = TwoTowerTower::kIdentity;
  o.item_bias = true;
  o.temperature = 2.0f;
  TwoTowerModel model(o);
  ASSERT_EQ(model.VectorDim(), 3);
  Batch batch;
  // user 10, history word 12 | item 20, word 12
  batch.AddFeature(10, 1.0f, kUserIdField);
  batch.AddFeature(12, 1.0f, kFirstSharedField);
  batch.AddFeature(20, 1.0f, kItemIdField);
  batch.AddFeature(12, 1.0f, kFirstSharedField);
  batch.EndExample(1.0f);
  PulledRows rows;
  rows.rows = {{1, 2}, {3, 4, 100, /*item 20*/ 5, 7, 0.5f}};  // item table rows: word 12, item 20
  rows.row_of_feature = {0, 0, 1, 0};
  std::vector<float> u(3), v(3);
  model.UserVectors(batch, 0, 1, rows, u.data());
  model.ItemVectors(batch, 0, 1, rows, v.data());
  const float s2 = std::sqrt(2.0f);
  EXPECT_NEAR(u[0], (1 + 3) / s2, 1e-5);
  EXPECT_NEAR(u[1], (2 + 4) / s2, 1e-5);
  EXPECT_EQ(u[2], 1.0f);
  EXPECT_NEAR(v[0], (5 + 3) / s2, 1e-5);
  EXPECT_NEAR(v[1], (7 + 4) / s2, 1e-5);
  EXPECT_EQ(v[2], 0.5f);
  // Predict: sigmoid((<u, i> + b) / temperature).
  const double s = ((4 / s2) * (8 / s2) + (6 / s2) * (11 / s2) + 0.5) / 2.0;
  float p = 0;
  model.Predict(batch, 0, 1, rows, &p);
  EXPECT_NEAR(p, 1.0 / (1.0 + std::exp(-s)), 1e-5);
}

TEST(TwoTowerTest, CosineVectorsAreUnitLength) {
  std::mt19937 rng(33);
  TwoTowerOptions o = SmallTwoTower();
  o.score = TwoTowerScore::kCosine;
  TwoTowerModel model(o);
  Batch batch = RandomInteractions(&rng, 5, 3, 3, true);
  PulledRows rows = PullRows(model, batch, &rng, 0.5f);
  std::vector<float> v(5 * 3);
  model.ItemVectors(batch, 0, 5, rows, v.data());
  for (int e = 0; e < 5; ++e) {
    EXPECT_NEAR(v[e * 3] * v[e * 3] + v[e * 3 + 1] * v[e * 3 + 1] + v[e * 3 + 2] * v[e * 3 + 2], 1.0, 1e-5);
  }
}

TEST(ImplicitModelsFactoryTest, CreatesAndRejects) {
  std::unique_ptr<Model> m;
  ASSERT_TRUE(CreateModel("imf", {}, &m).ok());
  EXPECT_TRUE(m->IsRanking());
  ASSERT_TRUE(CreateModel("two_tower", {}, &m).ok());
  EXPECT_TRUE(m->IsRanking());
  ASSERT_TRUE(CreateModel("mf", {}, &m).ok());
  EXPECT_FALSE(m->IsRanking());
  ModelOptions o;
  o.negatives = 4;
  EXPECT_FALSE(CreateModel("two_tower", o, &m).ok());
  EXPECT_FALSE(CreateModel("fm", o, &m).ok());
  ASSERT_TRUE(CreateModel("imf", o, &m).ok());
  EXPECT_EQ(static_cast<ImplicitMfModel*>(m.get())->options().negatives, 4u);
  ModelOptions t;
  t.temperature = 0.0f;
  EXPECT_FALSE(CreateModel("two_tower", t, &m).ok());
  t.temperature = 0.2f;
  EXPECT_FALSE(CreateModel("imf", t, &m).ok());
  t.dim = 8;
  t.score = TwoTowerScore::kDot;
  ASSERT_TRUE(CreateModel("two_tower", t, &m).ok());
  EXPECT_EQ(m->VectorDim(), 8);
  t.item_bias = true;
  t.tower = TwoTowerTower::kIdentity;
  ASSERT_TRUE(CreateModel("two_tower", t, &m).ok());
  EXPECT_EQ(m->VectorDim(), 9);
  EXPECT_FALSE(CreateModel("imf", t, &m).ok());
}

}  // namespace
}  // namespace embark
