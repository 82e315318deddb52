// Tests of the dense-table block layout and of one server's block store.
#include "ps/dense_block.h"

#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

#include "ps/row_init.h"

namespace embark {
namespace {

TEST(DenseBlockTest, LayoutCoversEveryFloatOnceAndIsBalanced) {
  struct Case {
    uint64_t size;
    uint32_t block_floats;
    int servers;
    uint32_t table;
  };
  const Case cases[] = {{1, 1024, 3, 0},     {1024, 1024, 3, 1},  {1025, 1024, 3, 2},
                        {100000, 4096, 4, 5}, {100000, 7, 5, 9},   {3000000, 65536, 2, 1},
                        {10, 3, 16, 4}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "size " << c.size << " block " << c.block_floats
                                    << " servers " << c.servers << " table " << c.table);
    const std::vector<DenseBlock> layout =
        LayoutDenseTable(c.size, c.block_floats, c.servers, c.table);
    // Coverage: consecutive, non-overlapping, ending exactly at size; only the last is short.
    uint64_t next = 0;
    std::vector<uint64_t> floats_per_server(c.servers, 0);
    std::vector<int> blocks_per_server(c.servers, 0);
    for (size_t i = 0; i < layout.size(); ++i) {
      const DenseBlock& b = layout[i];
      EXPECT_EQ(b.block, i);
      EXPECT_EQ(b.offset, next);
      EXPECT_GT(b.length, 0u);
      if (i + 1 < layout.size()) {
        EXPECT_EQ(b.length, c.block_floats);
      }
      EXPECT_LE(b.length, c.block_floats);
      next += b.length;
      ASSERT_GE(b.server, 0);
      ASSERT_LT(b.server, c.servers);
      floats_per_server[b.server] += b.length;
      ++blocks_per_server[b.server];
    }
    EXPECT_EQ(next, c.size);
    EXPECT_EQ(layout.size(), (c.size + c.block_floats - 1) / c.block_floats);
    // Round-robin from table % servers.
    EXPECT_EQ(layout[0].server, static_cast<int>(c.table % c.servers));
    // Balanced within one block.
    const auto [bmin, bmax] = std::minmax_element(blocks_per_server.begin(), blocks_per_server.end());
    EXPECT_LE(*bmax - *bmin, 1);
    const auto [fmin, fmax] = std::minmax_element(floats_per_server.begin(), floats_per_server.end());
    EXPECT_LE(*fmax - *fmin, c.block_floats);
    // Deterministic.
    const std::vector<DenseBlock> again = LayoutDenseTable(c.size, c.block_floats, c.servers, c.table);
    ASSERT_EQ(again.size(), layout.size());
    for (size_t i = 0; i < layout.size(); ++i) {
      EXPECT_EQ(again[i].offset, layout[i].offset);
      EXPECT_EQ(again[i].server, layout[i].server);
    }
  }
  EXPECT_TRUE(LayoutDenseTable(0, 1024, 3, 0).empty());
}

TEST(DenseBlockTest, LayoutByHand) {
  // 10 floats, blocks of 4, 3 servers, table 4: blocks [0,4) [4,8) [8,10) on servers 1, 2, 0.
  const std::vector<DenseBlock> layout = LayoutDenseTable(10, 4, 3, 4);
  ASSERT_EQ(layout.size(), 3u);
  EXPECT_EQ(layout[0].offset, 0u);
  EXPECT_EQ(layout[0].length, 4u);
  EXPECT_EQ(layout[0].server, 1);
  EXPECT_EQ(layout[1].offset, 4u);
  EXPECT_EQ(layout[1].server, 2);
  EXPECT_EQ(layout[2].offset, 8u);
  EXPECT_EQ(layout[2].length, 2u);
  EXPECT_EQ(layout[2].server, 0);
}

TableConfig DenseConfig(uint64_t size, OptimizerKind kind, float lr) {
  TableConfig cfg;
  cfg.id = 7;
  cfg.name = "mlp";
  cfg.dense = true;
  cfg.dense_size = size;
  cfg.optimizer.kind = kind;
  cfg.optimizer.lr = lr;
  cfg.init.kind = InitKind::kNormal;
  cfg.init.scale = 0.1f;
  return cfg;
}

TEST(DenseBlockTest, StoreOwnsItsBlocksWithDeterministicInit) {
  const TableConfig cfg = DenseConfig(1000, OptimizerKind::kSgd, 0.5f);
  const std::vector<DenseBlock> layout = LayoutDenseTable(1000, 64, 3, cfg.id);
  // The union of the three servers' stores is the whole vector, each float once.
  std::vector<int> covered(1000, 0);
  for (int server = 0; server < 3; ++server) {
    DenseBlockStore store(cfg, 31, layout, server);
    uint64_t owned = 0;
    for (const DenseBlock& b : layout) {
      EXPECT_EQ(store.Owns(b.block), b.server == server);
      if (b.server != server) {
        std::vector<float> out(b.length);
        const Status st = store.Pull(b.block, out.data());
        EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
        EXPECT_NE(st.message().find("block " + std::to_string(b.block)), std::string::npos)
            << st.message();
        EXPECT_EQ(store.BlockLength(b.block), 0u);
        continue;
      }
      owned += b.length;
      EXPECT_EQ(store.BlockLength(b.block), b.length);
      std::vector<float> out(b.length), want(b.length);
      ASSERT_TRUE(store.Pull(b.block, out.data()).ok());
      InitRowWeights(31, cfg.id, b.block, cfg.init, static_cast<int>(b.length), want.data());
      EXPECT_EQ(out, want);
      for (uint32_t j = 0; j < b.length; ++j) ++covered[b.offset + j];
    }
    EXPECT_EQ(store.owned_floats(), owned);
    EXPECT_FALSE(store.Owns(1000));  // beyond the table
  }
  for (int c : covered) EXPECT_EQ(c, 1);
}

TEST(DenseBlockTest, PushPullSgdAndAdaGrad) {
  // 10 floats in blocks of 4 on 1 server: blocks of 4, 4, 2.
  const std::vector<DenseBlock> layout = LayoutDenseTable(10, 4, 1, 7);
  {
    DenseBlockStore store(DenseConfig(10, OptimizerKind::kSgd, 0.5f), 1, layout, 0);
    std::vector<float> before(2), after(2);
    ASSERT_TRUE(store.Pull(2, before.data()).ok());  // the short last block
    const float grad[2] = {1.0f, -2.0f};
    ASSERT_TRUE(store.Push(2, grad).ok());
    ASSERT_TRUE(store.Pull(2, after.data()).ok());
    EXPECT_FLOAT_EQ(after[0], before[0] - 0.5f * 1.0f);
    EXPECT_FLOAT_EQ(after[1], before[1] + 0.5f * 2.0f);
    // Other blocks untouched.
    std::vector<float> b1(4), want(4);
    ASSERT_TRUE(store.Pull(1, b1.data()).ok());
    InitRowWeights(1, 7, 1, DenseConfig(10, OptimizerKind::kSgd, 0.5f).init, 4, want.data());
    EXPECT_EQ(b1, want);
    EXPECT_EQ(store.Push(3, grad).code(), Status::Code::kInvalidArgument);
  }
  {
    TableConfig cfg = DenseConfig(10, OptimizerKind::kAdaGrad, 0.1f);
    cfg.init.kind = InitKind::kZero;
    cfg.optimizer.adagrad_eps = 0.0f;
    DenseBlockStore store(cfg, 1, layout, 0);
    EXPECT_EQ(store.RowFloats(0), 8u);
    EXPECT_EQ(store.RowFloats(2), 4u);
    const float g1[4] = {3, 4, 0, 1}, g2[4] = {4, -3, 0, 0};
    ASSERT_TRUE(store.Push(0, g1).ok());
    ASSERT_TRUE(store.Push(0, g2).ok());
    std::vector<float> out(4);
    ASSERT_TRUE(store.Pull(0, out.data()).ok());
    // n = [25, 25, 0, 1]: w0 = -0.1*3/3 - 0.1*4/5 = -0.18; w1 = -0.1 + 0.06 = -0.04;
    // w2 untouched (0 gradients, 0/0 skipped); w3 = -0.1*1/1 = -0.1, then g = 0: stays.
    EXPECT_FLOAT_EQ(out[0], -0.18f);
    EXPECT_FLOAT_EQ(out[1], -0.04f);
    EXPECT_EQ(out[2], 0.0f);
    EXPECT_FLOAT_EQ(out[3], -0.1f);

    // Assign keeps the accumulator; AssignRow restores weights and state verbatim.
    const float w[4] = {1, 1, 1, 1};
    ASSERT_TRUE(store.Assign(0, w).ok());
    const float g3[4] = {0, 0, 0, 0};
    ASSERT_TRUE(store.Push(0, g3).ok());
    ASSERT_TRUE(store.Pull(0, out.data()).ok());
    EXPECT_EQ(out, std::vector<float>(4, 1.0f));
    std::vector<std::vector<float>> rows;
    store.ForEach([&](const DenseBlock& b, const float* row) {
      rows.emplace_back(row, row + store.RowFloats(b.block));
    });
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_FLOAT_EQ(rows[0][4], 25.0f);  // n0
    DenseBlockStore copy(cfg, 99, layout, 0);
    for (uint32_t b = 0; b < 3; ++b) ASSERT_TRUE(copy.AssignRow(b, rows[b].data()).ok());
    const float g4[4] = {1, 2, 3, 4};
    ASSERT_TRUE(store.Push(0, g4).ok());
    ASSERT_TRUE(copy.Push(0, g4).ok());
    std::vector<float> a(4), c(4);
    ASSERT_TRUE(store.Pull(0, a.data()).ok());
    ASSERT_TRUE(copy.Pull(0, c.data()).ok());
    EXPECT_EQ(a, c);
  }
}

}  // namespace
}  // namespace embark
