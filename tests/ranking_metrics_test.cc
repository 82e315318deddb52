// Tests of models/ranking_metrics.h: top-K selection against a full sort, and Recall/NDCG/
// HitRate and the popularity baseline against values computed by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "models/ranking_metrics.h"

namespace embark {
namespace {

TEST(RankingMetricsTest, TopKSkipsExcludedAndBreaksTiesByIndex) {
  const std::vector<float> scores = {0.5f, 0.9f, 0.1f, 0.9f, 0.3f, 0.7f};
  std::vector<uint32_t> top;
  TopK(scores.data(), scores.size(), nullptr, 0, 3, &top);
  EXPECT_EQ(top, (std::vector<uint32_t>{1, 3, 5}));  // 1 and 3 tie: smaller index first
  const std::vector<uint32_t> excluded = {3, 3};
  TopK(scores.data(), scores.size(), excluded.data(), excluded.size(), 3, &top);
  EXPECT_EQ(top, (std::vector<uint32_t>{1, 5, 0}));
  // Fewer items than K.
  TopK(scores.data(), 2, nullptr, 0, 5, &top);
  EXPECT_EQ(top, (std::vector<uint32_t>{1, 0}));
  // NaN ranks below every number.
  const std::vector<float> with_nan = {std::nanf(""), -5.0f, 1.0f};
  TopK(with_nan.data(), with_nan.size(), nullptr, 0, 3, &top);
  EXPECT_EQ(top, (std::vector<uint32_t>{2, 1, 0}));
}

TEST(RankingMetricsTest, TopKMatchesAFullSort) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> coarse(0, 20);  // many ties
  for (int round = 0; round < 20; ++round) {
    const size_t n = 50 + round * 7;
    std::vector<float> scores(n);
    for (float& s : scores) s = static_cast<float>(coarse(rng));
    std::vector<uint32_t> excluded;
    for (uint32_t i = 0; i < n; ++i)
      if (coarse(rng) < 3) excluded.push_back(i);
    std::vector<uint32_t> expected;
    for (uint32_t i = 0; i < n; ++i)
      if (!std::binary_search(excluded.begin(), excluded.end(), i)) expected.push_back(i);
    std::stable_sort(expected.begin(), expected.end(),
                     [&](uint32_t a, uint32_t b) { return scores[a] > scores[b]; });
    const int k = 1 + round % 12;
    expected.resize(std::min<size_t>(expected.size(), k));
    std::vector<uint32_t> top;
    TopK(scores.data(), n, excluded.data(), excluded.size(), k, &top);
    EXPECT_EQ(top, expected) << "round " << round;
  }
}

TEST(RankingMetricsTest, MetricsByHand) {
  const std::vector<uint32_t> top = {1, 5, 0};
  RankingSums sums;
  // Held out {0, 2}: one hit at rank 3. Recall 1/2, DCG 1/log2(4) = 0.5,
  // IDCG = 1 + 1/log2(3).
  const std::vector<uint32_t> a = {0, 2};
  AddUserMetrics(top, a.data(), a.size(), 3, &sums);
  EXPECT_EQ(sums.users, 1u);
  EXPECT_DOUBLE_EQ(sums.recall, 0.5);
  EXPECT_NEAR(sums.ndcg, 0.5 / (1.0 + 1.0 / std::log2(3.0)), 1e-12);
  EXPECT_DOUBLE_EQ(sums.hits, 1.0);
  // Held out {4}: no hit.
  const std::vector<uint32_t> b = {4};
  AddUserMetrics(top, b.data(), b.size(), 3, &sums);
  // Held out {0, 1, 2, 5}: every rank hits; recall 3/4, NDCG 1 (IDCG over min(K, 4) = 3 ranks).
  const std::vector<uint32_t> c = {0, 1, 2, 5};
  AddUserMetrics(top, c.data(), c.size(), 3, &sums);
  EXPECT_EQ(sums.users, 3u);
  EXPECT_NEAR(sums.MeanRecall(), (0.5 + 0 + 0.75) / 3, 1e-12);
  EXPECT_NEAR(sums.MeanNdcg(), (0.5 / (1.0 + 1.0 / std::log2(3.0)) + 0 + 1) / 3, 1e-12);
  EXPECT_NEAR(sums.MeanHitRate(), 2.0 / 3, 1e-12);
  // Only the first K ranks count: at K = 1 the first user has no hit.
  RankingSums k1;
  AddUserMetrics(top, a.data(), a.size(), 1, &k1);
  EXPECT_EQ(k1.hits, 0.0);
  AddUserMetrics(top, c.data(), c.size(), 1, &k1);
  EXPECT_DOUBLE_EQ(k1.recall, 0.25);
  EXPECT_DOUBLE_EQ(k1.ndcg, 1.0);
}

TEST(RankingMetricsTest, SumsSerializeAndMerge) {
  RankingSums a;
  a.users = 3;
  a.recall = 1.25;
  a.ndcg = 0.5;
  a.hits = 2;
  RankingSums b;
  ASSERT_TRUE(RankingSums::Parse(a.Serialize(), &b).ok());
  b.Merge(a);
  EXPECT_EQ(b.users, 6u);
  EXPECT_DOUBLE_EQ(b.recall, 2.5);
  EXPECT_DOUBLE_EQ(b.ndcg, 1.0);
  EXPECT_DOUBLE_EQ(b.hits, 4.0);
  EXPECT_FALSE(RankingSums::Parse("short", &b).ok());
}

TEST(RankingMetricsTest, PopularityRankerByHand) {
  //                        item: 0  1  2  3  4  5
  PopularityRanker ranker(std::vector<uint64_t>{5, 2, 5, 9, 0, 1});
  std::vector<uint32_t> top;
  ranker.TopK(nullptr, 0, 4, &top);
  EXPECT_EQ(top, (std::vector<uint32_t>{3, 0, 2, 1}));  // 0 and 2 tie: smaller index first
  const std::vector<uint32_t> excluded = {0, 3};
  ranker.TopK(excluded.data(), excluded.size(), 3, &top);
  EXPECT_EQ(top, (std::vector<uint32_t>{2, 1, 5}));
}

}  // namespace
}  // namespace embark
