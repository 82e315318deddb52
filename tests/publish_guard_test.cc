#include "scheduler/publish_guard.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace embark {
namespace {

// Feeds intervals of `n` examples with mean loss `mean` as running totals.
struct Stream {
  double loss = 0;
  uint64_t examples = 0;
  PublishGuard::Verdict Next(PublishGuard* g, double mean, uint64_t n = 100) {
    loss += mean * static_cast<double>(n);
    examples += n;
    PublishGuard::Verdict v = g->Judge(loss, examples);
    if (v.publish) g->Published(v);
    return v;
  }
};

TEST(PublishGuardTest, TheFirstVersionIsPublishedUnjudgedAndBecomesTheBaseline) {
  PublishGuard g(0.25);
  Stream s;
  auto v = s.Next(&g, 0.9);
  EXPECT_TRUE(v.publish);
  EXPECT_FALSE(v.judged);
  EXPECT_DOUBLE_EQ(v.interval_loss, 0.9);
  v = s.Next(&g, 1.1);  // within 1.25 x 0.9
  EXPECT_TRUE(v.publish);
  EXPECT_TRUE(v.judged);
  EXPECT_DOUBLE_EQ(v.baseline, 0.9);
  EXPECT_EQ(g.withheld(), 0u);
}

TEST(PublishGuardTest, AWorseIntervalIsWithheldAndTheBaselineStaysUntilAGoodOne) {
  PublishGuard g(0.25);
  Stream s;
  s.Next(&g, 0.4);
  auto v = s.Next(&g, 0.6);  // 1.5 x
  EXPECT_FALSE(v.publish);
  EXPECT_TRUE(v.judged);
  v = s.Next(&g, 0.55);      // judged on its own interval, against the same 0.4
  EXPECT_FALSE(v.publish);
  EXPECT_DOUBLE_EQ(v.baseline, 0.4);
  EXPECT_NEAR(v.interval_loss, 0.55, 1e-12);
  v = s.Next(&g, 0.45);
  EXPECT_TRUE(v.publish);
  EXPECT_EQ(g.withheld(), 2u);
  v = s.Next(&g, 0.5);       // the baseline is now the mean of the published 0.4 and 0.45
  EXPECT_TRUE(v.publish);
  EXPECT_NEAR(v.baseline, 0.425, 1e-12);
}

TEST(PublishGuardTest, ANonFiniteLossIsNeverPublished) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  {
    PublishGuard g(0.25);
    Stream s;
    s.Next(&g, 0.4);
    EXPECT_FALSE(s.Next(&g, nan).publish);  // NaN compares false with everything
  }
  {
    PublishGuard g(0.25);
    Stream s;
    EXPECT_FALSE(s.Next(&g, inf).publish);  // not even the first version
    EXPECT_EQ(g.withheld(), 1u);
  }
  {
    // A non-finite baseline can never be set, so it cannot withhold every later version.
    PublishGuard g(0.25);
    PublishGuard::Verdict bad;
    bad.interval_examples = 10;
    bad.interval_loss = nan;
    g.Published(bad);
    Stream s;
    EXPECT_FALSE(s.Next(&g, 0.5).judged);
    EXPECT_TRUE(s.Next(&g, 0.5).publish);
  }
}

TEST(PublishGuardTest, AnEmptyIntervalIsPublishedAndKeepsTheBaseline) {
  PublishGuard g(0.25);
  Stream s;
  s.Next(&g, 0.4);
  auto v = s.Next(&g, 0.4, 0);
  EXPECT_TRUE(v.publish);
  EXPECT_FALSE(v.judged);
  EXPECT_FALSE(s.Next(&g, 0.6).publish);  // still against 0.4
}

TEST(PublishGuardTest, TheBaselineIsTheLastThreePublishedIntervals) {
  PublishGuard g(0.25);
  Stream s;
  s.Next(&g, 0.5, 100);
  s.Next(&g, 0.5, 100);
  s.Next(&g, 0.4, 100);  // one lucky interval
  // Against 0.4 alone, 0.51 would be withheld; against (0.5 + 0.5 + 0.4) / 3 it is not.
  auto v = s.Next(&g, 0.51, 100);
  EXPECT_TRUE(v.publish);
  EXPECT_NEAR(v.baseline, 1.4 / 3, 1e-12);
  s.Next(&g, 0.3, 100);
  s.Next(&g, 0.3, 100);
  v = s.Next(&g, 0.3, 100);  // the oldest intervals have left the baseline: (0.51 + 0.3 + 0.3) / 3
  EXPECT_NEAR(v.baseline, 1.11 / 3, 1e-12);
}

TEST(PublishGuardTest, AShortIntervalIsJudgedTogetherWithTheOneBeforeIt) {
  PublishGuard g(0.25);
  Stream s;
  s.Next(&g, 0.5, 600);
  s.Next(&g, 0.5, 600);
  // 100 unlucky examples alone would be 1.4 x the baseline; with the 600 before them the mean
  // is (0.5 * 600 + 0.7 * 100) / 700 = 0.529, within the guard.
  auto v = s.Next(&g, 0.7, 100);
  EXPECT_TRUE(v.publish);
  EXPECT_EQ(v.interval_examples, 700u);
  EXPECT_NEAR(v.interval_loss, 0.37 / 0.7, 1e-12);
  // A long bad interval is judged alone, and withheld.
  EXPECT_FALSE(s.Next(&g, 0.7, 600).publish);
  // A short interval after a withheld one is pooled with it: still withheld.
  v = s.Next(&g, 0.5, 100);
  EXPECT_FALSE(v.publish);
  EXPECT_EQ(v.interval_examples, 700u);
}

TEST(PublishGuardTest, OffPublishesEverything) {
  PublishGuard g(0);
  Stream s;
  s.Next(&g, 0.1);
  EXPECT_TRUE(s.Next(&g, 10).publish);
  EXPECT_TRUE(s.Next(&g, std::numeric_limits<double>::quiet_NaN()).publish);
  EXPECT_EQ(g.withheld(), 0u);
}

TEST(PublishGuardTest, AfterAResumeTheFirstVersionIsNotJudged) {
  // A resumed job starts a new guard from the restored totals: no baseline carries over, so
  // its first version is published whatever the last run's baseline was.
  PublishGuard before(0.25);
  Stream s;
  s.Next(&before, 0.2);
  EXPECT_FALSE(s.Next(&before, 0.5).publish);
  PublishGuard after(0.25);
  auto v = s.Next(&after, 0.5);
  EXPECT_TRUE(v.publish);
  EXPECT_FALSE(v.judged);
  EXPECT_EQ(v.interval_examples, s.examples);  // from the restored totals' origin
  // Its interval ran from the origin of the totals: (0.2 + 0.5 + 0.5) / 3 = 0.4 is the baseline.
  v = s.Next(&after, 0.45);
  EXPECT_TRUE(v.judged);
  EXPECT_NEAR(v.baseline, 0.4, 1e-12);
  EXPECT_TRUE(v.publish);
}

}  // namespace
}  // namespace embark
