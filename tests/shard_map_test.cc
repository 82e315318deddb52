// Tests for partition/shard_map.h: hashing, balanced layout, load balance on several key
// distributions, resizing, the wire format and the per-server slicing used by the KV client.
#include "partition/shard_map.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace embark {
namespace {

// ---------------------------------------------------------------------------------------
// Key sets for the load-balance test.

std::vector<uint64_t> SequentialKeys(size_t n) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = i;
  return keys;
}

std::vector<uint64_t> RandomKeys(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::set<uint64_t> seen;
  while (seen.size() < n) seen.insert(rng());
  return std::vector<uint64_t>(seen.begin(), seen.end());
}

// Distinct ids hit by draws from Zipf(s) over ids [0, universe), drawing until `want`
// distinct ids were seen. Inverse-CDF sampling on a precomputed table.
std::vector<uint64_t> ZipfDistinctKeys(size_t universe, double s, size_t want, uint64_t seed) {
  std::vector<double> cdf(universe);
  double sum = 0;
  for (size_t i = 0; i < universe; ++i) {
    sum += std::pow(static_cast<double>(i + 1), -s);
    cdf[i] = sum;
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, sum);
  std::vector<bool> hit(universe, false);
  std::vector<uint64_t> keys;
  while (keys.size() < want) {
    const size_t id = std::lower_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin();
    const size_t clamped = std::min(id, universe - 1);
    if (!hit[clamped]) {
      hit[clamped] = true;
      keys.push_back(clamped);
    }
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

// max over servers of (#keys on server) / (mean #keys per server).
double Imbalance(const ShardMap& map, const std::vector<uint64_t>& keys, uint32_t table) {
  std::vector<size_t> per_server(map.num_servers(), 0);
  for (uint64_t k : keys) ++per_server[map.ServerOf(k, table)];
  const double mean = static_cast<double>(keys.size()) / map.num_servers();
  return *std::max_element(per_server.begin(), per_server.end()) / mean;
}

// ---------------------------------------------------------------------------------------

TEST(ShardMapTest, BalancedLayoutIsContiguousAndMatchesHandComputedTable) {
  // S = 3, V = 8: floor(v * 3 / 8) = 0 0 0 1 1 1 2 2.
  ShardMap map = ShardMap::Balanced(3, 8);
  const int expected[8] = {0, 0, 0, 1, 1, 1, 2, 2};
  for (uint32_t v = 0; v < 8; ++v) EXPECT_EQ(map.ServerOfVShard(v), expected[v]) << v;
  EXPECT_EQ(map.VShardCounts(), (std::vector<uint32_t>{3, 3, 2}));
  EXPECT_EQ(map.VShardsOfServer(1), (std::vector<uint32_t>{3, 4, 5}));
  EXPECT_EQ(map.epoch(), 0u);

  for (int s = 1; s <= 9; ++s) {
    ShardMap m = ShardMap::Balanced(s);
    ASSERT_EQ(m.num_vshards(), 4096u);
    std::vector<uint32_t> counts = m.VShardCounts();
    EXPECT_LE(*std::max_element(counts.begin(), counts.end()) -
                  *std::min_element(counts.begin(), counts.end()), 1u) << s;
    // Contiguous: the server index never decreases along the vshards.
    for (uint32_t v = 1; v < 4096; ++v) {
      ASSERT_LE(m.ServerOfVShard(v - 1), m.ServerOfVShard(v));
    }
  }
}

TEST(ShardMapTest, VShardIsLowBitsOfSaltedMix64) {
  ShardMap map = ShardMap::Balanced(5, 1024);
  EXPECT_EQ(ShardMap::TableSalt(0), 0u);
  for (uint64_t key : {0ull, 1ull, 42ull, 0xdeadbeefcafeull, ~0ull}) {
    EXPECT_EQ(map.VShardOf(key), Mix64(key) % 1024);
    EXPECT_EQ(map.VShardOf(key, 0), Mix64(key) % 1024);
    EXPECT_EQ(map.VShardOf(key, 7), Mix64(key ^ (7 * 0x9e3779b97f4a7c15ULL)) % 1024);
    EXPECT_EQ(map.ServerOf(key, 7), map.ServerOfVShard(map.VShardOf(key, 7)));
  }
}

TEST(ShardMapTest, TablesSpreadIndependently) {
  // With a salt the same key lands on the same server in two tables only about 1/S of the
  // time; without one it always would.
  ShardMap map = ShardMap::Balanced(4);
  const int n = 20000;
  int same = 0;
  for (int k = 0; k < n; ++k) same += map.ServerOf(k, 1) == map.ServerOf(k, 2);
  EXPECT_NEAR(static_cast<double>(same) / n, 0.25, 0.02);
}

TEST(ShardMapTest, LoadBalanceOnSequentialRandomAndZipfKeys) {
  const std::vector<uint64_t> sequential = SequentialKeys(100000);
  const std::vector<uint64_t> random = RandomKeys(100000, 7);
  const std::vector<uint64_t> zipf = ZipfDistinctKeys(1000000, 1.1, 100000, 11);
  ASSERT_EQ(zipf.size(), 100000u);
  for (int servers = 2; servers <= 8; ++servers) {
    ShardMap map = ShardMap::Balanced(servers);
    for (uint32_t table : {0u, 3u}) {
      EXPECT_LE(Imbalance(map, sequential, table), 1.1) << servers << " servers, sequential";
      EXPECT_LE(Imbalance(map, random, table), 1.1) << servers << " servers, random";
      EXPECT_LE(Imbalance(map, zipf, table), 1.1) << servers << " servers, zipf";
    }
  }
}

TEST(ShardMapTest, LoadStaysBalancedAfterGrowing) {
  const std::vector<uint64_t> keys = SequentialKeys(100000);
  ShardMap map = ShardMap::Balanced(2);
  for (int servers = 3; servers <= 8; ++servers) {
    map = map.Resized(servers);
    EXPECT_LE(Imbalance(map, keys, 0), 1.1) << servers;
  }
}

TEST(ShardMapTest, SubShardsAreBalancedAndDependOnlyOnTheVShard) {
  for (int servers : {1, 2, 3, 6}) {
    ShardMap map = ShardMap::Balanced(servers);
    for (int threads : {2, 3, 4}) {
      // vshards per (server, thread) differ by at most one within a server.
      for (int s = 0; s < servers; ++s) {
        std::vector<int> per_thread(threads, 0);
        for (uint32_t v : map.VShardsOfServer(s)) ++per_thread[ShardMap::SubShardOfVShard(v, threads)];
        EXPECT_LE(*std::max_element(per_thread.begin(), per_thread.end()) -
                      *std::min_element(per_thread.begin(), per_thread.end()), 1)
            << servers << " servers, " << threads << " threads, server " << s;
      }
      for (uint64_t key = 0; key < 1000; ++key) {
        ASSERT_EQ(map.SubShardOf(key, threads), static_cast<int>(map.VShardOf(key) % threads));
      }
    }
  }
}

TEST(ShardMapTest, AddingOneServerMovesAboutOneOverSPlusOneAndOnlyWholeVShards) {
  const std::vector<uint64_t> keys = RandomKeys(20000, 3);
  for (int s = 1; s <= 8; ++s) {
    ShardMap old_map = ShardMap::Balanced(s);
    std::vector<uint32_t> moved;
    ShardMap new_map = old_map.Resized(s + 1, &moved);
    ASSERT_EQ(new_map.num_servers(), s + 1);
    EXPECT_EQ(new_map.epoch(), 1u);

    // Minimum possible: the new server needs floor or ceil of 4096 / (s + 1) vshards and
    // every one of them has to come from somewhere.
    const double ideal = 4096.0 / (s + 1);
    EXPECT_GE(moved.size(), std::floor(ideal)) << s;
    EXPECT_LE(moved.size(), std::ceil(ideal)) << s;
    EXPECT_TRUE(std::is_sorted(moved.begin(), moved.end()));
    EXPECT_EQ(std::adjacent_find(moved.begin(), moved.end()), moved.end());

    // Moved vshards all went to the new server; nothing else changed owner.
    std::vector<bool> is_moved(4096, false);
    for (uint32_t v : moved) is_moved[v] = true;
    for (uint32_t v = 0; v < 4096; ++v) {
      if (is_moved[v]) {
        EXPECT_EQ(new_map.ServerOfVShard(v), s);
      } else {
        EXPECT_EQ(new_map.ServerOfVShard(v), old_map.ServerOfVShard(v));
      }
    }
    // Key level: vshards are never re-hashed, and keys in unmoved vshards keep their server.
    for (uint64_t k : keys) {
      ASSERT_EQ(new_map.VShardOf(k), old_map.VShardOf(k));
      if (!is_moved[old_map.VShardOf(k)]) {
        ASSERT_EQ(new_map.ServerOf(k), old_map.ServerOf(k));
      }
    }
    std::vector<uint32_t> counts = new_map.VShardCounts();
    EXPECT_LE(*std::max_element(counts.begin(), counts.end()) -
                  *std::min_element(counts.begin(), counts.end()), 1u);
  }
}

TEST(ShardMapTest, ShrinkingMovesExactlyTheRemovedServersVShards) {
  ShardMap old_map = ShardMap::Balanced(5, 1024);
  std::vector<uint32_t> moved;
  ShardMap new_map = old_map.Resized(3, &moved);
  // Servers 3 and 4 held 1024 * 2 / 5 rounded: counts were 205 205 205 205 204 -> 409 move.
  std::vector<uint32_t> old_counts = old_map.VShardCounts();
  EXPECT_EQ(moved.size(), old_counts[3] + old_counts[4]);
  EXPECT_EQ(moved.size(), 409u);
  for (uint32_t v = 0; v < 1024; ++v) {
    if (old_map.ServerOfVShard(v) < 3) {
      EXPECT_EQ(new_map.ServerOfVShard(v), old_map.ServerOfVShard(v)) << v;
    } else {
      EXPECT_TRUE(std::binary_search(moved.begin(), moved.end(), v)) << v;
    }
  }
  std::vector<uint32_t> counts = new_map.VShardCounts();
  EXPECT_EQ(counts.size(), 3u);
  // 1024 = 342 + 341 + 341.
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<uint32_t>{341, 341, 342}));
}

TEST(ShardMapTest, ResizeToSameCountOfBalancedMapMovesNothing) {
  ShardMap map = ShardMap::Balanced(6);
  std::vector<uint32_t> moved = {1, 2, 3};
  ShardMap same = map.Resized(6, &moved);
  EXPECT_TRUE(moved.empty());
  for (uint32_t v = 0; v < map.num_vshards(); ++v) {
    ASSERT_EQ(same.ServerOfVShard(v), map.ServerOfVShard(v));
  }
}

TEST(ShardMapTest, ResizeRebalancesAnUnevenTable) {
  // All 8 vshards on server 0 of 2: moving 4 is the minimum.
  ShardMap skewed;
  ASSERT_TRUE(ShardMap::FromTable(2, std::vector<uint16_t>(8, 0), 5, &skewed).ok());
  std::vector<uint32_t> moved;
  ShardMap fixed = skewed.Resized(2, &moved);
  EXPECT_EQ(moved, (std::vector<uint32_t>{4, 5, 6, 7}));  // the highest-numbered excess
  EXPECT_EQ(fixed.VShardCounts(), (std::vector<uint32_t>{4, 4}));
  EXPECT_EQ(fixed.epoch(), 6u);
}

TEST(ShardMapTest, RepeatedGrowthMovesLittleInTotal) {
  // 1 -> 8 servers one at a time: each step moves ~V/(S+1), total = V * (1 - 1/8) at most
  // plus rounding, versus ~V * (1 - 1/8) per step if keys were re-hashed mod S.
  ShardMap map = ShardMap::Balanced(1);
  size_t total = 0;
  for (int s = 2; s <= 8; ++s) {
    std::vector<uint32_t> moved;
    map = map.Resized(s, &moved);
    total += moved.size();
  }
  EXPECT_EQ(map.epoch(), 7u);
  // sum_{s=2..8} 4096/s = 4096 * (H_8 - 1) = 4096 * 1.7179 = 7036.6, within rounding.
  EXPECT_NEAR(static_cast<double>(total), 7036.6, 8.0);
}

TEST(ShardMapTest, EncodeDecodeRoundTrip) {
  ShardMap map = ShardMap::Balanced(3).Resized(7).Resized(5);  // a non-contiguous table
  const std::string bytes = map.Encode();
  EXPECT_EQ(bytes.size(), 28u + 2 * 4096 + 8);
  EXPECT_EQ(bytes.substr(0, 8), "EMBSHMAP");
  ShardMap decoded;
  Status st = ShardMap::Decode(bytes, &decoded);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(decoded == map);
  EXPECT_EQ(decoded.epoch(), 2u);
  EXPECT_EQ(decoded.num_servers(), 5);
  for (uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(decoded.ServerOf(k, 2), map.ServerOf(k, 2));
  EXPECT_EQ(decoded.Encode(), bytes);
}

// Replaces bytes [offset, offset + width) of an encoding and fixes the trailing checksum, so
// a test can reach the validation behind the checksum.
std::string PatchAndReseal(std::string bytes, size_t offset, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) bytes[offset + i] = static_cast<char>((value >> (8 * i)) & 0xff);
  const size_t body = bytes.size() - 8;
  const uint64_t sum = HashBytes(std::string_view(bytes).substr(0, body));
  for (int i = 0; i < 8; ++i) bytes[body + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  return bytes;
}

TEST(ShardMapTest, DecodeRejectsGarbageWithAMessage) {
  const ShardMap original = ShardMap::Balanced(4, 64);
  const std::string good = original.Encode();
  ShardMap out = ShardMap::Balanced(2, 8);  // must be left alone on failure
  auto expect_rejected = [&](const std::string& bytes, const std::string& reason) {
    Status st = ShardMap::Decode(bytes, &out);
    EXPECT_FALSE(st.ok()) << reason;
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << reason;
    EXPECT_NE(st.message().find(reason), std::string::npos) << st.message();
    EXPECT_EQ(out.num_servers(), 2);
  };

  expect_rejected("", "truncated");
  expect_rejected("hello world, this is not a shard map at all", "magic");
  // Every proper prefix is rejected.
  for (size_t len = 0; len < good.size(); ++len) {
    ASSERT_FALSE(ShardMap::Decode(std::string_view(good).substr(0, len), &out).ok()) << len;
  }
  expect_rejected(good.substr(0, good.size() - 1), "truncated");
  expect_rejected(good + "x", "trailing bytes");
  // A flipped bit in the table is caught by the checksum.
  std::string damaged = good;
  damaged[28 + 10] ^= 0x01;
  expect_rejected(damaged, "checksum");
  // Fields behind a valid checksum.
  expect_rejected(PatchAndReseal(good, 8, 2, 4), "version");
  expect_rejected(PatchAndReseal(good, 20, 0, 4), "server count");
  // Entry for vshard 5 set to server 4 of 4.
  expect_rejected(PatchAndReseal(good, 28 + 2 * 5, 4, 2), "virtual shard 5");
  // 48 vshards: not a power of two.
  expect_rejected(PatchAndReseal(good, 24, 48, 4), "power of two");
}

TEST(ShardMapTest, FromTableAndValidateLayoutRejectBadInput) {
  ShardMap out;
  EXPECT_FALSE(ShardMap::FromTable(2, std::vector<uint16_t>(6, 0), 0, &out).ok());
  EXPECT_FALSE(ShardMap::FromTable(2, {0, 1, 2, 0}, 0, &out).ok());
  EXPECT_FALSE(ShardMap::FromTable(0, {0, 0}, 0, &out).ok());
  EXPECT_TRUE(ShardMap::FromTable(2, {0, 1, 1, 0}, 3, &out).ok());
  EXPECT_EQ(out.ServerOfVShard(3), 0);
  EXPECT_EQ(out.epoch(), 3u);

  EXPECT_TRUE(ShardMap::ValidateLayout(8, 4096).ok());
  EXPECT_FALSE(ShardMap::ValidateLayout(0, 4096).ok());
  EXPECT_FALSE(ShardMap::ValidateLayout(4, 1000).ok());
  EXPECT_FALSE(ShardMap::ValidateLayout(9, 8).ok());
  EXPECT_FALSE(ShardMap::ValidateLayout(2, 0).ok());
}

TEST(ShardMapTest, SliceGroupsSortedKeysByServerKeepingOrder) {
  ShardMap map = ShardMap::Balanced(3).Resized(4);
  KeySlices slices;
  for (size_t n : {size_t{0}, size_t{1}, size_t{5000}, size_t{37}}) {
    std::vector<uint64_t> keys = RandomKeys(n, 100 + n);  // sorted, unique
    map.Slice(keys.data(), keys.size(), 2, &slices);
    ASSERT_EQ(slices.num_servers(), 4);
    ASSERT_EQ(slices.begin.back(), n);
    std::vector<int> seen(n, 0);
    for (int s = 0; s < 4; ++s) {
      const uint32_t* pos = slices.positions(s);
      size_t expected_count = 0;
      for (uint64_t k : keys) expected_count += map.ServerOf(k, 2) == s;
      ASSERT_EQ(slices.count(s), expected_count);
      for (size_t j = 0; j < slices.count(s); ++j) {
        ASSERT_LT(pos[j], n);
        ++seen[pos[j]];
        EXPECT_EQ(map.ServerOf(keys[pos[j]], 2), s);
        EXPECT_EQ(slices.server_of_key[pos[j]], s);
        if (j > 0) {
          EXPECT_LT(keys[pos[j - 1]], keys[pos[j]]);  // still sorted
        }
      }
    }
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << i;
  }
}

}  // namespace
}  // namespace embark
