// Tests the live-publishing directory plan (serving/publish_dir.h) and that a chain of deltas
// with tombstones, each against the version before it, applies to the right rows.
#include "serving/publish_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "serving/bundle.h"

namespace embark {
namespace {

TEST(PublishDir, NamesRoundTripAndOthersAreIgnored) {
  uint64_t s = 0;
  EXPECT_EQ(PublishedVersionName(42), "v-0000000042");
  EXPECT_TRUE(ParsePublishedVersionName("v-0000000042", &s));
  EXPECT_EQ(s, 42u);
  EXPECT_FALSE(ParsePublishedVersionName("v-0000000042.tmp-12", &s));
  EXPECT_FALSE(ParsePublishedVersionName("v-0000000000", &s));
  EXPECT_FALSE(ParsePublishedVersionName("w-0000000001", &s));
}

TEST(PublishDir, PlanStartsAtNewestFullAndAppliesDeltasInOrder) {
  PublishPlan p = PlanPublishedVersions("D", {{3, false}, {1, true}, {2, false}, {4, true}, {5, false}}, 0);
  EXPECT_TRUE(p.problem.ok()) << p.problem.ToString();
  EXPECT_EQ(p.apply, (std::vector<uint64_t>{4, 5}));
  p = PlanPublishedVersions("D", {{1, true}, {2, false}, {3, false}}, 1);
  EXPECT_EQ(p.apply, (std::vector<uint64_t>{2, 3}));
  p = PlanPublishedVersions("D", {{1, true}, {2, false}}, 2);
  EXPECT_TRUE(p.apply.empty());
  EXPECT_TRUE(p.problem.ok());
}

TEST(PublishDir, GapStopsThePlanNamingTheMissingVersion) {
  PublishPlan p = PlanPublishedVersions("D", {{1, true}, {2, false}, {4, false}}, 1);
  EXPECT_EQ(p.apply, (std::vector<uint64_t>{2}));
  ASSERT_FALSE(p.problem.ok());
  EXPECT_NE(p.problem.message().find("v-0000000003 is missing"), std::string::npos) << p.problem.message();
  EXPECT_NE(p.problem.message().find("D/v-0000000004"), std::string::npos);
  // A later full bundle heals the gap.
  p = PlanPublishedVersions("D", {{1, true}, {2, false}, {4, false}, {5, true}}, 2);
  EXPECT_EQ(p.apply, (std::vector<uint64_t>{5}));
  EXPECT_TRUE(p.problem.ok());
  // Only deltas and nothing served: wait for a full one.
  p = PlanPublishedVersions("D", {{2, false}}, 0);
  EXPECT_TRUE(p.apply.empty());
  EXPECT_FALSE(p.problem.ok());
}

BundleSpec Table(std::vector<uint64_t> keys, std::vector<float> values) {
  BundleSpec s;
  BundleTableData t;
  t.name = "w";
  t.dim = 1;
  t.keys = std::move(keys);
  t.values = std::move(values);
  s.tables.push_back(std::move(t));
  return s;
}

// v1 full {1,2,3}; v2 = v1 with key 2 evicted (a tombstone) and key 3 changed; applying the
// delta to v1 gives exactly v2's full bundle (same id), so the next delta can name it as base.
TEST(PublishDir, DeltaWithTombstoneAppliesToThePreviousVersion) {
  const std::string root = ::testing::TempDir() + "/publish_dir_test_" + std::to_string(getpid());
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  ASSERT_TRUE(WriteBundle(root + "/v1", Table({1, 2, 3}, {0.5f, 1.5f, 2.5f})).ok());
  std::unique_ptr<Bundle> v1;
  ASSERT_TRUE(Bundle::Open(root + "/v1", &v1).ok());
  const BundleSpec v2_full = Table({1, 3, 4}, {0.5f, 9.0f, 4.0f});
  std::string v2_id;
  ASSERT_TRUE(WriteBundle(root + "/v2full", v2_full, &v2_id).ok());
  BundleSpec delta;
  ASSERT_TRUE(MakeDelta(*v1, v2_full, &delta).ok());
  ASSERT_EQ(delta.tables[0].deleted, (std::vector<uint64_t>{2}));
  ASSERT_EQ(delta.tables[0].keys, (std::vector<uint64_t>{3, 4}));
  ASSERT_TRUE(WriteBundle(root + "/v2delta", delta).ok());
  std::unique_ptr<Bundle> d;
  ASSERT_TRUE(Bundle::Open(root + "/v2delta", &d).ok());
  EXPECT_EQ(d->table(0).num_deleted(), 1u);
  ASSERT_TRUE(ApplyDelta(*v1, *d, root + "/v2").ok());
  std::unique_ptr<Bundle> v2;
  ASSERT_TRUE(Bundle::Open(root + "/v2", &v2).ok());
  EXPECT_EQ(v2->id(), v2_id);
  EXPECT_EQ(v2->table(0).Find(2), -1);  // the tombstoned row is gone
  float x = 0;
  ASSERT_TRUE(v2->table(0).LookupInto(3, &x));
  EXPECT_EQ(x, 9.0f);
  // Negative control: the same delta does not apply to another base.
  std::unique_ptr<Bundle> other;
  ASSERT_TRUE(Bundle::Open(root + "/v2full", &other).ok());
  EXPECT_FALSE(ApplyDelta(*other, *d, root + "/bad").ok());
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace embark
