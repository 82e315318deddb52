// BlockScheduler and RatingBlocks: the conflict-free schedule of block training.
#include "worker/block_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>
#include <vector>

#include "worker/rating_blocks.h"

namespace embark {
namespace {

std::vector<uint32_t> AllBlocks(uint32_t grid) {
  std::vector<uint32_t> v(size_t{grid} * grid);
  std::iota(v.begin(), v.end(), 0u);
  return v;
}

// Four threads over an 8 x 8 grid, each holding its block a little while: at no moment do two
// threads hold blocks in one grid row or column, and every block is handed out exactly once.
TEST(BlockSchedulerTest, ThreadsNeverShareARowOrColumnAndEveryBlockRunsOnce) {
  const uint32_t grid = 8;
  BlockScheduler sched(grid, 10);
  sched.StartRound(AllBlocks(grid), 7);
  std::mutex mu;
  std::vector<int> row_holders(grid, 0), col_holders(grid, 0);
  std::vector<int> times(grid * grid, 0);
  std::atomic<int> conflicts{0}, overlaps{0}, max_held{0}, held{0};
  auto work = [&] {
    while (true) {
      uint32_t b = 0;
      bool done = false;
      ASSERT_TRUE(sched.Take(&b, &done).ok());
      if (done) return;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (row_holders[b / grid]++ > 0 || col_holders[b % grid]++ > 0) ++conflicts;
        ++times[b];
        const int h = ++held;
        if (h > 1) ++overlaps;
        max_held = std::max(max_held.load(), h);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      {
        std::lock_guard<std::mutex> lock(mu);
        --row_holders[b / grid];
        --col_holders[b % grid];
        --held;
      }
      sched.Done(b);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  EXPECT_EQ(conflicts.load(), 0);
  for (uint32_t b = 0; b < grid * grid; ++b) EXPECT_EQ(times[b], 1) << "block " << b;
  // The negative control of the check: threads did overlap (otherwise it proves nothing).
  EXPECT_GT(overlaps.load(), 0);
}

// One thread: the order is a function of the seed, every block once; another seed, another order.
TEST(BlockSchedulerTest, OneThreadOrderIsTheSeeds) {
  auto order = [](uint64_t seed, const std::vector<uint32_t>& blocks) {
    BlockScheduler sched(4);
    sched.StartRound(blocks, seed);
    std::vector<uint32_t> out;
    while (true) {
      uint32_t b = 0;
      bool done = false;
      EXPECT_TRUE(sched.Take(&b, &done).ok());
      if (done) break;
      out.push_back(b);
      sched.Done(b);
    }
    return out;
  };
  const std::vector<uint32_t> all = AllBlocks(4);
  const std::vector<uint32_t> a = order(1, all), b = order(1, all), c = order(2, all);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<uint32_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, all);
  // A round of some blocks hands out those and no others.
  const std::vector<uint32_t> some = {1, 6, 11};
  std::vector<uint32_t> got = order(3, some);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, some);
}

// A holder that never finishes: the next Take waits its bounded time and says why.
TEST(BlockSchedulerTest, TakeTimesOutWhenEveryFreeBlockConflicts) {
  BlockScheduler sched(1, 0.2);
  sched.StartRound({0}, 1);
  uint32_t b = 0;
  bool done = false;
  ASSERT_TRUE(sched.Take(&b, &done).ok());
  ASSERT_FALSE(done);
  BlockScheduler two(2, 0.2);
  two.StartRound({0, 1}, 1);  // blocks 0 and 1 share grid row 0
  ASSERT_TRUE(two.Take(&b, &done).ok());
  Status st = two.Take(&b, &done);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("held blocks"), std::string::npos) << st.message();
  // Abort wakes everyone: the round reports done.
  two.Abort();
  ASSERT_TRUE(two.Take(&b, &done).ok());
  EXPECT_TRUE(done);
}

// Blocks by key: the same key lands in the same block in every grid instance (so every worker
// agrees), users spread over the blocks, and a shuffle keeps a block's examples.
TEST(RatingBlocksTest, BlocksComeFromKeysAndShufflesKeepExamples) {
  const uint32_t grid = 4;
  std::vector<int> users_per_block(grid, 0);
  for (uint64_t key = 0; key < 4000; ++key) {
    const uint32_t b = RatingBlocks::BlockOf(key, 0, grid);
    ASSERT_LT(b, grid);
    EXPECT_EQ(b, RatingBlocks::BlockOf(key, 0, grid));
    ++users_per_block[b];
  }
  for (int n : users_per_block) EXPECT_NEAR(n, 1000, 150);
  // The axes are salted apart: user k and item k do not always share a block index.
  int same = 0;
  for (uint64_t key = 0; key < 4000; ++key) same += RatingBlocks::BlockOf(key, 0, grid) == RatingBlocks::BlockOf(key, 1, grid);
  EXPECT_LT(same, 1400);
  RatingBlocks blocks(grid);
  for (uint32_t i = 0; i < 2000; ++i) blocks.Add(i % 50, 1000 + i % 37, PairExample{i % 50, i % 37, static_cast<float>(i)});
  EXPECT_EQ(blocks.examples(), 2000u);
  size_t total = 0;
  for (uint32_t b = 0; b < blocks.num_blocks(); ++b) {
    std::vector<float> before;
    for (const PairExample& e : blocks.block(b)) before.push_back(e.label);
    blocks.ShuffleBlock(b, 9);
    std::vector<float> after;
    for (const PairExample& e : blocks.block(b)) {
      after.push_back(e.label);
      // Every example of the block has its user and item in the block's row and column.
      EXPECT_EQ(RatingBlocks::BlockOf(e.user, 0, grid), b / grid);
      EXPECT_EQ(RatingBlocks::BlockOf(1000 + e.item, 1, grid), b % grid);
    }
    if (before.size() > 5) {
      EXPECT_NE(before, after) << "block " << b << " was not shuffled";
    }
    std::sort(before.begin(), before.end());
    std::sort(after.begin(), after.end());
    EXPECT_EQ(before, after);
    total += after.size();
  }
  EXPECT_EQ(total, 2000u);
}

// The order inside a block keeps each row of the grouping side together (every group one run),
// and is fresh each epoch: the group order and the order inside a group change with the seed.
TEST(RatingBlocksTest, ShuffleKeepsGroupsTogetherInAFreshOrder) {
  for (int axis : {0, 1}) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    RatingBlocks blocks(1);
    blocks.set_group_axis(axis);
    for (uint32_t i = 0; i < 3000; ++i) blocks.Add(0, 0, PairExample{i % 60, (i * 7) % 45, static_cast<float>(i)});
    auto key = [axis](const PairExample& e) { return axis == 0 ? e.user : e.item; };
    std::vector<std::vector<float>> orders;
    std::vector<std::vector<uint32_t>> group_orders;
    for (uint64_t seed : {1, 2, 3}) {
      blocks.ShuffleBlock(0, seed);
      const std::vector<PairExample>& v = blocks.block(0);
      ASSERT_EQ(v.size(), 3000u);
      std::vector<float> labels;
      std::vector<uint32_t> runs;
      for (size_t i = 0; i < v.size(); ++i) {
        labels.push_back(v[i].label);
        if (i == 0 || key(v[i]) != key(v[i - 1])) runs.push_back(key(v[i]));
      }
      // One run per distinct row: no group is split.
      std::vector<uint32_t> distinct = runs;
      std::sort(distinct.begin(), distinct.end());
      EXPECT_EQ(std::unique(distinct.begin(), distinct.end()), distinct.end());
      EXPECT_EQ(runs.size(), axis == 0 ? 60u : 45u);
      orders.push_back(labels);
      group_orders.push_back(runs);
      std::sort(labels.begin(), labels.end());
      for (uint32_t i = 0; i < 3000; ++i) ASSERT_EQ(labels[i], static_cast<float>(i));  // nothing lost or doubled
    }
    EXPECT_NE(group_orders[0], group_orders[1]);
    EXPECT_NE(group_orders[1], group_orders[2]);
    // Inside a group too: the labels of the first group of seed 3, in seed 3's order, against
    // the same group's labels in seed 2's order.
    const uint32_t g = group_orders[2][0];
    std::vector<float> in2, in3;
    blocks.ShuffleBlock(0, 2);
    for (const PairExample& e : blocks.block(0))
      if (key(e) == g) in2.push_back(e.label);
    blocks.ShuffleBlock(0, 3);
    for (const PairExample& e : blocks.block(0))
      if (key(e) == g) in3.push_back(e.label);
    EXPECT_NE(in2, in3);
  }
}

// Grouping every block at load (GroupAll) changes nothing about the orders the epochs see:
// each seed gives the same sequence as grouping lazily at the first shuffle, and the grouped
// block already holds every group in one run before any shuffle.
TEST(RatingBlocksTest, GroupingAtLoadGivesTheSameOrdersAsGroupingAtTheFirstShuffle) {
  auto fill = [](RatingBlocks* blocks) {
    for (uint32_t i = 0; i < 2000; ++i)
      blocks->Add(i * 2654435761u, i * 40503u, PairExample{(i * 13) % 70, (i * 7) % 45, static_cast<float>(i)});
  };
  RatingBlocks eager(3), lazy(3);
  fill(&eager);
  fill(&lazy);
  eager.GroupAll();
  for (uint32_t b = 0; b < eager.num_blocks(); ++b) {
    const std::vector<PairExample>& v = eager.block(b);
    std::vector<uint32_t> runs;
    for (size_t i = 0; i < v.size(); ++i)
      if (i == 0 || v[i].user != v[i - 1].user) runs.push_back(v[i].user);
    std::vector<uint32_t> sorted = runs;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "block " << b;
  }
  size_t compared = 0;
  for (uint64_t seed : {5, 6}) {
    for (uint32_t b = 0; b < eager.num_blocks(); ++b) {
      eager.ShuffleBlock(b, seed);
      lazy.ShuffleBlock(b, seed);
      std::vector<float> a, z;
      for (const PairExample& e : eager.block(b)) a.push_back(e.label);
      for (const PairExample& e : lazy.block(b)) z.push_back(e.label);
      EXPECT_EQ(a, z) << "block " << b << " seed " << seed;
      compared += a.size();
    }
  }
  EXPECT_EQ(compared, 4000u);
}

}  // namespace
}  // namespace embark
