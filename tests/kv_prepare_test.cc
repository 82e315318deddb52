// Tests of the KV client's request preparation (worker/kv_client.h): KVClient::Prepare
// deduplicates keys and groups them by owning server, sorted inside each group, and maps every
// input position back to its key; SumDuplicates adds the rows of repeated keys. Neither touches
// the network, so the client is built without a transport or control plane.
#include "worker/kv_client.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace embark {
namespace {

std::vector<TableConfig> Tables() {
  TableConfig a;
  a.name = "a";
  a.dim = 2;
  TableConfig b;
  b.name = "b";
  b.dim = 3;
  return {a, b};
}

// Unsorted keys with many repeats, including the extreme values 0 and UINT64_MAX.
std::vector<uint64_t> MessyKeys(size_t n, size_t distinct, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> pool(distinct);
  for (auto& k : pool) k = rng();
  pool[0] = 0;
  pool[1] = std::numeric_limits<uint64_t>::max();
  pool[2] = 1;
  std::vector<uint64_t> keys(n);
  for (auto& k : keys) k = pool[rng() % distinct];
  return keys;
}

// Checks every documented property of `p` for input keys[0, n) of `table`.
void ExpectWellFormed(const Placement& placement, uint32_t table, const std::vector<uint64_t>& input,
                      const PreparedKeys& p) {
  const int servers = placement.num_servers();
  EXPECT_EQ(p.table, table);
  const std::set<uint64_t> distinct(input.begin(), input.end());
  // Unique: exactly the distinct input keys, each once.
  ASSERT_EQ(p.size(), distinct.size());
  EXPECT_EQ(std::set<uint64_t>(p.keys.begin(), p.keys.end()), distinct);
  // Grouped by server and sorted inside each group.
  ASSERT_EQ(p.server_begin.size(), static_cast<size_t>(servers) + 1);
  EXPECT_EQ(p.server_begin.front(), 0u);
  EXPECT_EQ(p.server_begin.back(), p.keys.size());
  for (int s = 0; s < servers; ++s) {
    ASSERT_LE(p.server_begin[s], p.server_begin[s + 1]) << "server " << s;
    for (uint32_t i = p.server_begin[s]; i < p.server_begin[s + 1]; ++i) {
      EXPECT_EQ(placement.ServerOf(table, p.keys[i]), s) << "key " << p.keys[i] << " at " << i;
      if (i > p.server_begin[s]) {
        EXPECT_LT(p.keys[i - 1], p.keys[i]) << "server " << s << " at " << i;
      }
    }
  }
  // Every input position maps to its own key.
  ASSERT_EQ(p.index_of_input.size(), input.size());
  for (size_t i = 0; i < input.size(); ++i) {
    ASSERT_LT(p.index_of_input[i], p.keys.size()) << "input position " << i;
    EXPECT_EQ(p.keys[p.index_of_input[i]], input[i]) << "input position " << i;
  }
}

class KVPrepareTest : public ::testing::TestWithParam<int> {  // parameter: number of servers
 protected:
  KVPrepareTest() : placement_(ShardMap::Balanced(GetParam()), Tables()),
                    client_(nullptr, nullptr, placement_, 1.0) {}
  Placement placement_;
  KVClient client_;
};

TEST_P(KVPrepareTest, UnsortedKeysWithDuplicates) {
  for (uint32_t table : {0u, 1u}) {
    const std::vector<uint64_t> keys = MessyKeys(2000, 300, 11 + table);
    PreparedKeys p;
    client_.Prepare(table, keys.data(), keys.size(), &p);
    ExpectWellFormed(placement_, table, keys, p);
    // Each server gets a share: with 300 distinct keys no server of 5 is left empty.
    for (int s = 0; s < GetParam(); ++s) EXPECT_GT(p.server_begin[s + 1], p.server_begin[s]) << s;
  }
}

TEST_P(KVPrepareTest, SortedUniqueInputGivesTheSameGroups) {
  const std::vector<uint64_t> messy = MessyKeys(1500, 400, 3);
  std::vector<uint64_t> sorted(messy);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  PreparedKeys from_messy, from_sorted;
  client_.Prepare(1, messy.data(), messy.size(), &from_messy);
  client_.Prepare(1, sorted.data(), sorted.size(), &from_sorted);
  ExpectWellFormed(placement_, 1, sorted, from_sorted);
  // Same keys in the same groups (and, since groups are sorted, in the same order).
  EXPECT_EQ(from_sorted.server_begin, from_messy.server_begin);
  EXPECT_EQ(from_sorted.keys, from_messy.keys);
  // Sorted unique input: position i holds key sorted[i].
  for (size_t i = 0; i < sorted.size(); ++i) EXPECT_EQ(from_sorted.keys[from_sorted.index_of_input[i]], sorted[i]);
}

TEST_P(KVPrepareTest, SortedInputWithRepeatsIsStillDeduplicated) {
  // Sorted but not unique must not take the "already sorted and unique" shortcut.
  const std::vector<uint64_t> keys = {3, 3, 5, 9, 9, 9, 12, 40, 40};
  PreparedKeys p;
  client_.Prepare(0, keys.data(), keys.size(), &p);
  ExpectWellFormed(placement_, 0, keys, p);
  EXPECT_EQ(p.size(), 5u);
  // Descending input.
  const std::vector<uint64_t> down = {90, 80, 70, 60, 50, 40, 30, 20, 10};
  client_.Prepare(0, down.data(), down.size(), &p);
  ExpectWellFormed(placement_, 0, down, p);
}

TEST_P(KVPrepareTest, EmptyAndSingleKey) {
  PreparedKeys p;
  client_.Prepare(0, nullptr, 0, &p);
  EXPECT_EQ(p.size(), 0u);
  EXPECT_TRUE(p.index_of_input.empty());
  EXPECT_EQ(p.server_begin, std::vector<uint32_t>(GetParam() + 1, 0));
  const uint64_t one = 77;
  client_.Prepare(0, &one, 1, &p);
  ExpectWellFormed(placement_, 0, {77}, p);
}

TEST_P(KVPrepareTest, KeySetIdDependsOnTableAndKeys) {
  // The id names a key set's content (servers cache lookups under it and compare the keys
  // before trusting the cache): equal for equal input, different otherwise, never 0.
  const std::vector<uint64_t> keys = {1, 2, 3};
  const std::vector<uint64_t> other = {1, 2, 4};
  const std::vector<uint64_t> longer = {1, 2, 3, 0};
  PreparedKeys a, b, c, d, e;
  client_.Prepare(0, keys.data(), keys.size(), &a);
  client_.Prepare(0, keys.data(), keys.size(), &b);
  client_.Prepare(1, keys.data(), keys.size(), &c);
  client_.Prepare(0, other.data(), other.size(), &d);
  client_.Prepare(0, longer.data(), longer.size(), &e);
  EXPECT_EQ(a.id, b.id);
  EXPECT_NE(a.id, c.id);
  EXPECT_NE(a.id, d.id);
  EXPECT_NE(a.id, e.id);
  for (const PreparedKeys* p : {&a, &c, &d, &e}) EXPECT_NE(p->id, 0u);
  PreparedKeys empty;
  client_.Prepare(0, nullptr, 0, &empty);
  EXPECT_NE(empty.id, 0u);
}

TEST_P(KVPrepareTest, ReusedOutputKeepsNothingFromThePreviousCall) {
  PreparedKeys p;
  const std::vector<uint64_t> big = MessyKeys(3000, 1000, 8);
  client_.Prepare(1, big.data(), big.size(), &p);
  const std::vector<uint64_t> small = {5, 1, 5, 2};
  client_.Prepare(0, small.data(), small.size(), &p);
  ExpectWellFormed(placement_, 0, small, p);
  EXPECT_EQ(p.size(), 3u);
}

TEST_P(KVPrepareTest, SumDuplicatesAddsRowsOfRepeatedKeys) {
  const uint32_t width = 3;
  const std::vector<uint64_t> keys = MessyKeys(500, 60, 21);
  PreparedKeys p;
  client_.Prepare(1, keys.data(), keys.size(), &p);
  // Small integers: every sum is exact in float, whatever the order of addition.
  std::vector<float> rows(keys.size() * width);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<float>(static_cast<int>(i % 17) - 8);
  std::map<uint64_t, std::vector<float>> expected;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto& e = expected[keys[i]];
    e.resize(width, 0.0f);
    for (uint32_t j = 0; j < width; ++j) e[j] += rows[i * width + j];
  }
  std::vector<float> summed = {123.0f};  // stale contents must be overwritten
  KVClient::SumDuplicates(p, rows.data(), width, &summed);
  ASSERT_EQ(summed.size(), p.size() * width);
  for (size_t u = 0; u < p.size(); ++u) {
    const std::vector<float>& e = expected.at(p.keys[u]);
    for (uint32_t j = 0; j < width; ++j) EXPECT_EQ(summed[u * width + j], e[j]) << "key " << p.keys[u];
  }
}

TEST_P(KVPrepareTest, SumDuplicatesOfAHandWorkedExample) {
  const std::vector<uint64_t> keys = {9, 4, 9, 9, 4, 6};
  PreparedKeys p;
  client_.Prepare(0, keys.data(), keys.size(), &p);
  const std::vector<float> rows = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60};
  std::vector<float> summed;
  KVClient::SumDuplicates(p, rows.data(), 2, &summed);
  ASSERT_EQ(p.size(), 3u);
  for (size_t u = 0; u < 3; ++u) {
    const float* r = summed.data() + 2 * u;
    if (p.keys[u] == 9) {
      EXPECT_EQ(r[0], 1 + 3 + 4);
      EXPECT_EQ(r[1], 10 + 30 + 40);
    } else if (p.keys[u] == 4) {
      EXPECT_EQ(r[0], 2 + 5);
      EXPECT_EQ(r[1], 20 + 50);
    } else {
      EXPECT_EQ(p.keys[u], 6u);
      EXPECT_EQ(r[0], 6);
      EXPECT_EQ(r[1], 60);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Servers, KVPrepareTest, ::testing::Values(1, 2, 5),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "servers";
                         });

}  // namespace
}  // namespace embark
