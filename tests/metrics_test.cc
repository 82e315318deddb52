// Tests of the mergeable evaluation metrics against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "models/metrics.h"

namespace embark {
namespace {

TEST(MetricsTest, RmseAndMaeByHand) {
  RegressionMetrics m;
  const float preds[] = {1.0f, 2.0f, 4.0f};
  const float labels[] = {2.0f, 2.0f, 1.0f};  // errors -1, 0, 3
  m.Add(preds, labels, 3);
  EXPECT_EQ(m.count(), 3u);
  EXPECT_DOUBLE_EQ(m.Rmse(), std::sqrt(10.0 / 3.0));
  EXPECT_DOUBLE_EQ(m.Mae(), 4.0 / 3.0);
  EXPECT_TRUE(std::isnan(RegressionMetrics().Rmse()));
}

TEST(MetricsTest, LogLossByHand) {
  LogLossMetric m;
  m.Add(0.8, 1.0f);   // -ln 0.8
  m.Add(0.3, 0.0f);   // -ln 0.7
  m.Add(0.3, -1.0f);  // libsvm negative: -ln 0.7
  EXPECT_NEAR(m.Mean(), (-std::log(0.8) - 2 * std::log(0.7)) / 3, 1e-12);
  LogLossMetric certain_and_wrong;
  certain_and_wrong.Add(0.0, 1.0f);  // clamped to 1e-15, not infinite
  EXPECT_NEAR(certain_and_wrong.Mean(), -std::log(1e-15), 1e-6);
  EXPECT_TRUE(std::isnan(LogLossMetric().Mean()));
}

TEST(MetricsTest, ExactAucByHandWithTies) {
  // Classic example: positives 0.35, 0.8; negatives 0.1, 0.4 -> 3 of 4 pairs ordered.
  const float p1[] = {0.1f, 0.4f, 0.35f, 0.8f};
  const float y1[] = {0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(ExactAuc(p1, y1, 4), 0.75);
  // Positives 0.5, 0.9; negatives 0.5, 0.2: the 0.5/0.5 pair is a tie -> (1 + 1 + 1 + 0.5) / 4.
  const float p2[] = {0.5f, 0.5f, 0.2f, 0.9f};
  const float y2[] = {1, 0, 0, 1};
  EXPECT_DOUBLE_EQ(ExactAuc(p2, y2, 4), 0.875);
  // All predictions equal: every pair is a tie.
  const float p3[] = {0.3f, 0.3f, 0.3f};
  const float y3[] = {1, 0, 0};
  EXPECT_DOUBLE_EQ(ExactAuc(p3, y3, 3), 0.5);
  // One class only.
  EXPECT_TRUE(std::isnan(ExactAuc(p3, y1, 2)));

  AucHistogram h;
  h.Add(p2, y2, 4);
  EXPECT_DOUBLE_EQ(h.Auc(), 0.875);
  EXPECT_DOUBLE_EQ(h.MaxError(), 0.5 * 1 / 4);  // one positive-negative pair shares a bin
}

TEST(MetricsTest, BinnedAucMatchesExactAucOnRandomData) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const size_t n = 20000;
  std::vector<float> preds(n), labels(n);
  for (size_t i = 0; i < n; ++i) {
    // Positives score higher on average, so the AUC is far from 0.5 (~0.76).
    labels[i] = uniform(rng) < 0.3f ? 1.0f : 0.0f;
    preds[i] = labels[i] > 0 ? std::sqrt(uniform(rng)) : uniform(rng);
  }
  const double exact = ExactAuc(preds.data(), labels.data(), n);
  EXPECT_GT(exact, 0.6);
  AucHistogram fine;
  fine.Add(preds.data(), labels.data(), n);
  EXPECT_NEAR(fine.Auc(), exact, 1e-4);
  EXPECT_LE(std::fabs(fine.Auc() - exact), fine.MaxError() + 1e-12);

  // With 16 bins the approximation is visible but still inside the stated bound.
  AucHistogram coarse(4);
  coarse.Add(preds.data(), labels.data(), n);
  EXPECT_GT(std::fabs(coarse.Auc() - exact), 1e-4);
  EXPECT_LE(std::fabs(coarse.Auc() - exact), coarse.MaxError());
}

TEST(MetricsTest, MergedSerializedAccumulatorsEqualSinglePass) {
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  const size_t n = 3000;
  std::vector<float> preds(n), labels(n);
  for (size_t i = 0; i < n; ++i) {
    labels[i] = uniform(rng) < 0.4f ? 1.0f : 0.0f;
    preds[i] = 0.5f * uniform(rng) + 0.5f * labels[i] * uniform(rng);
  }
  // 2^16 bins keep the test fast; the merge logic does not depend on the bin count.
  const int kBits = 16;
  RegressionMetrics reg_all;
  LogLossMetric ll_all;
  AucHistogram auc_all(kBits);
  reg_all.Add(preds.data(), labels.data(), n);
  ll_all.Add(preds.data(), labels.data(), n);
  auc_all.Add(preds.data(), labels.data(), n);

  // Three "workers" with uneven shares, shipped as bytes and merged.
  RegressionMetrics reg;
  LogLossMetric ll;
  AucHistogram auc(kBits);
  const size_t cuts[] = {0, 1000, 1100, n};
  for (int w = 0; w < 3; ++w) {
    const size_t lo = cuts[w], len = cuts[w + 1] - cuts[w];
    RegressionMetrics r;
    LogLossMetric l;
    AucHistogram a(kBits);
    r.Add(preds.data() + lo, labels.data() + lo, len);
    l.Add(preds.data() + lo, labels.data() + lo, len);
    a.Add(preds.data() + lo, labels.data() + lo, len);
    RegressionMetrics r2;
    LogLossMetric l2;
    AucHistogram a2(3);  // Parse replaces the bin count with the one in the bytes
    ASSERT_TRUE(RegressionMetrics::Parse(r.Serialize(), &r2).ok());
    ASSERT_TRUE(LogLossMetric::Parse(l.Serialize(), &l2).ok());
    ASSERT_TRUE(AucHistogram::Parse(a.Serialize(), &a2).ok());
    reg.Merge(r2);
    ll.Merge(l2);
    ASSERT_TRUE(auc.Merge(a2).ok());
  }
  EXPECT_EQ(reg.count(), n);
  EXPECT_NEAR(reg.Rmse(), reg_all.Rmse(), 1e-12);
  EXPECT_NEAR(reg.Mae(), reg_all.Mae(), 1e-12);
  EXPECT_EQ(ll.count(), n);
  EXPECT_NEAR(ll.Mean(), ll_all.Mean(), 1e-12);
  EXPECT_EQ(auc.positives(), auc_all.positives());
  EXPECT_EQ(auc.negatives(), auc_all.negatives());
  EXPECT_DOUBLE_EQ(auc.Auc(), auc_all.Auc());  // counts add exactly
  EXPECT_LE(std::fabs(auc.Auc() - ExactAuc(preds.data(), labels.data(), n)), auc.MaxError());
}

TEST(MetricsTest, AucHistogramEdgeCases) {
  AucHistogram h(8);
  EXPECT_TRUE(std::isnan(h.Auc()));
  h.Add(std::numeric_limits<float>::quiet_NaN(), 1.0f);
  h.Add(-3.0f, 0.0f);  // clamped into the lowest bin
  h.Add(7.0f, 1.0f);   // clamped into the highest bin
  EXPECT_EQ(h.skipped(), 1u);
  EXPECT_DOUBLE_EQ(h.Auc(), 1.0);
  AucHistogram other(9);
  EXPECT_EQ(h.Merge(other).code(), Status::Code::kInvalidArgument);
  h.Clear();
  EXPECT_EQ(h.positives() + h.negatives(), 0u);
}

TEST(MetricsTest, ParseRejectsDamagedBytes) {
  RegressionMetrics r;
  r.Add(1.0, 2.0);
  std::string bytes = r.Serialize();
  RegressionMetrics out;
  EXPECT_EQ(RegressionMetrics::Parse(bytes.substr(0, bytes.size() - 1), &out).code(),
            Status::Code::kCorruption);
  EXPECT_EQ(RegressionMetrics::Parse(bytes + "x", &out).code(), Status::Code::kCorruption);
  LogLossMetric l;
  EXPECT_EQ(LogLossMetric::Parse(bytes, &l).code(), Status::Code::kCorruption);  // wrong tag

  AucHistogram a(6);
  const float p[] = {0.1f, 0.9f};
  const float y[] = {0, 1};
  a.Add(p, y, 2);
  std::string ab = a.Serialize();
  AucHistogram parsed;
  ASSERT_TRUE(AucHistogram::Parse(ab, &parsed).ok());
  EXPECT_EQ(parsed.log2_bins(), 6);
  EXPECT_DOUBLE_EQ(parsed.Auc(), 1.0);
  // Corrupt the first bin index (it follows the 28-byte header) to point past the last bin.
  std::string bad = ab;
  bad[28] = static_cast<char>(0xff);
  bad[29] = static_cast<char>(0xff);
  Status s = AucHistogram::Parse(bad, &parsed);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("AucHistogram"), std::string::npos) << s.ToString();
  EXPECT_EQ(AucHistogram::Parse(ab.substr(0, 20), &parsed).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace embark
