// Tests of the deterministic row initialisation (RowInitTest) and of SparseTable, the
// per-sub-shard row store (SparseTableTest).
#include "ps/sparse_table.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

#include "core/hash.h"
#include "ps/row_init.h"

namespace embark {
namespace {

// ---------------------------------------------------------------------------------------------
// Row initialisation
// ---------------------------------------------------------------------------------------------

std::vector<float> Init(uint64_t seed, uint32_t table, uint64_t key, InitKind kind, float scale,
                        int dim) {
  InitConfig init;
  init.kind = kind;
  init.scale = scale;
  std::vector<float> out(dim, 99.0f);
  InitRowWeights(seed, table, key, init, dim, out.data());
  return out;
}

TEST(RowInitTest, ZeroKindAndZeroScaleGiveZeros) {
  for (float v : Init(1, 2, 3, InitKind::kZero, 0.5f, 8)) EXPECT_EQ(v, 0.0f);
  for (float v : Init(1, 2, 3, InitKind::kNormal, 0.0f, 8)) EXPECT_EQ(v, 0.0f);
  for (float v : Init(1, 2, 3, InitKind::kUniform, 0.0f, 8)) EXPECT_EQ(v, 0.0f);
}

TEST(RowInitTest, SameInputsSameOutputDifferentInputsDiffer) {
  for (InitKind kind : {InitKind::kUniform, InitKind::kNormal}) {
    const std::vector<float> base = Init(42, 1, 1000, kind, 0.1f, 16);
    EXPECT_EQ(base, Init(42, 1, 1000, kind, 0.1f, 16));
    EXPECT_NE(base, Init(42, 1, 1001, kind, 0.1f, 16));  // key
    EXPECT_NE(base, Init(42, 2, 1000, kind, 0.1f, 16));  // table
    EXPECT_NE(base, Init(43, 1, 1000, kind, 0.1f, 16));  // seed
    // Columns within a row differ from each other.
    for (int j = 1; j < 16; ++j) EXPECT_NE(base[j], base[0]);
    // A column's value does not depend on the row width: a prefix is the same.
    const std::vector<float> narrow = Init(42, 1, 1000, kind, 0.1f, 5);
    EXPECT_EQ(narrow, std::vector<float>(base.begin(), base.begin() + 5));
    // Scale is a pure multiplier.
    const std::vector<float> doubled = Init(42, 1, 1000, kind, 0.2f, 16);
    for (int j = 0; j < 16; ++j) EXPECT_NEAR(doubled[j], 2 * base[j], 1e-6);
  }
  // Keys 0 and UINT64_MAX are ordinary keys.
  EXPECT_NE(Init(7, 0, 0, InitKind::kUniform, 1, 4), Init(7, 0, ~0ULL, InitKind::kUniform, 1, 4));
}

// Moments over 1e5 draws: 1000 keys x 100 columns.
void Moments(InitKind kind, float scale, double* mean, double* stddev, double* max_abs,
             double* within_one_scale) {
  double sum = 0, sum_sq = 0, mx = 0;
  size_t inside = 0, count = 0;
  InitConfig init;
  init.kind = kind;
  init.scale = scale;
  std::vector<float> row(100);
  for (uint64_t key = 0; key < 1000; ++key) {
    InitRowWeights(2024, 3, key * 7919, init, 100, row.data());
    for (float v : row) {
      sum += v;
      sum_sq += double(v) * v;
      mx = std::max(mx, std::fabs(double(v)));
      inside += std::fabs(v) <= scale;
      ++count;
    }
  }
  *mean = sum / count;
  *stddev = std::sqrt(sum_sq / count - *mean * *mean);
  *max_abs = mx;
  *within_one_scale = double(inside) / count;
}

TEST(RowInitTest, UniformStatistics) {
  double mean, sd, mx, inside;
  Moments(InitKind::kUniform, 0.5f, &mean, &sd, &mx, &inside);
  // Uniform[-a, a]: mean 0, sd a/sqrt(3) = 0.288675. Std error of the mean ~ 0.0009.
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(sd, 0.5 / std::sqrt(3.0), 0.005);
  EXPECT_LE(mx, 0.5);
  EXPECT_GT(mx, 0.499);  // the range is actually used
  EXPECT_EQ(inside, 1.0);
}

TEST(RowInitTest, NormalStatistics) {
  double mean, sd, mx, inside;
  Moments(InitKind::kNormal, 0.2f, &mean, &sd, &mx, &inside);
  // N(0, 0.2^2): std error of the mean 0.2/sqrt(1e5) = 0.00063.
  EXPECT_NEAR(mean, 0.0, 0.003);
  EXPECT_NEAR(sd, 0.2, 0.004);
  // P(|x| <= sigma) = 0.6827; std error ~ 0.0015.
  EXPECT_NEAR(inside, 0.6827, 0.008);
  // Tails exist but are bounded (1e5 draws: max |x| around 4.4 sigma).
  EXPECT_GT(mx, 3.0 * 0.2);
  EXPECT_LT(mx, 6.0 * 0.2);
}

// ---------------------------------------------------------------------------------------------
// SparseTable
// ---------------------------------------------------------------------------------------------

TableConfig MakeConfig(uint32_t dim, OptimizerKind kind, float lr, InitKind init_kind,
                       float scale) {
  TableConfig cfg;
  cfg.id = 3;
  cfg.name = "test_table";
  cfg.dim = dim;
  cfg.optimizer.kind = kind;
  cfg.optimizer.lr = lr;
  cfg.init.kind = init_kind;
  cfg.init.scale = scale;
  return cfg;
}

std::vector<float> Expected(uint64_t seed, const TableConfig& cfg, uint64_t key) {
  std::vector<float> w(cfg.dim);
  InitRowWeights(seed, cfg.id, key, cfg.init, static_cast<int>(cfg.dim), w.data());
  return w;
}

std::vector<float> PullOne(SparseTable* table, uint64_t key) {
  std::vector<float> w(table->dim());
  table->Pull(&key, 1, w.data());
  return w;
}

TEST(SparseTableTest, SizesFollowOptimizer) {
  EXPECT_EQ(SparseTable(MakeConfig(4, OptimizerKind::kSgd, 1, InitKind::kZero, 0), 1).row_floats(), 4u);
  EXPECT_EQ(SparseTable(MakeConfig(4, OptimizerKind::kAdaGrad, 1, InitKind::kZero, 0), 1).row_floats(), 8u);
  EXPECT_EQ(SparseTable(MakeConfig(4, OptimizerKind::kFtrl, 1, InitKind::kZero, 0), 1).row_floats(), 12u);
  EXPECT_EQ(SparseTable(MakeConfig(4, OptimizerKind::kAdam, 1, InitKind::kZero, 0), 1).row_floats(), 13u);
}

TEST(SparseTableTest, PullOfNewKeysEqualsRowInit) {
  const TableConfig cfg = MakeConfig(4, OptimizerKind::kAdaGrad, 0.1f, InitKind::kUniform, 0.1f);
  SparseTable table(cfg, 99);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.Find(5), nullptr);
  const uint64_t keys[4] = {5, 0, UINT64_MAX, 5};
  std::vector<float> out(16);
  table.Pull(keys, 4, out.data());
  EXPECT_EQ(table.size(), 3u);  // 5 repeated
  for (int i = 0; i < 4; ++i) {
    const std::vector<float> want = Expected(99, cfg, keys[i]);
    EXPECT_EQ(std::vector<float>(out.begin() + 4 * i, out.begin() + 4 * i + 4), want) << i;
    const float* row = table.Find(keys[i]);
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(std::vector<float>(row, row + 4), want);
    for (int j = 4; j < 8; ++j) EXPECT_EQ(row[j], 0.0f);  // AdaGrad accumulator
  }
  EXPECT_NE(Expected(99, cfg, 0), Expected(99, cfg, UINT64_MAX));
  EXPECT_EQ(table.Find(6), nullptr);
}

TEST(SparseTableTest, PushThenPullMatchesHandComputedSgd) {
  TableConfig cfg = MakeConfig(2, OptimizerKind::kSgd, 0.5f, InitKind::kUniform, 0.1f);
  cfg.optimizer.l2 = 0.1f;
  SparseTable table(cfg, 7);
  const uint64_t pulled = 10;
  const std::vector<float> w0 = PullOne(&table, pulled);
  // Key 10 twice in one push (gradients applied in order), key 30 never pulled before.
  const uint64_t keys[3] = {10, 30, 10};
  const float grads[6] = {1.0f, -2.0f, 0.25f, 0.5f, -1.0f, 3.0f};
  table.Push(keys, 3, grads);
  std::vector<float> want10(2), want30 = Expected(7, cfg, 30);
  for (int j = 0; j < 2; ++j) {
    float w = w0[j];
    w -= 0.5f * (grads[j] + 0.1f * w);      // first gradient of key 10
    w -= 0.5f * (grads[4 + j] + 0.1f * w);  // second gradient of key 10
    want10[j] = w;
    want30[j] -= 0.5f * (grads[2 + j] + 0.1f * want30[j]);
  }
  const std::vector<float> got10 = PullOne(&table, 10), got30 = PullOne(&table, 30);
  for (int j = 0; j < 2; ++j) {
    EXPECT_FLOAT_EQ(got10[j], want10[j]);
    EXPECT_FLOAT_EQ(got30[j], want30[j]);
  }
  // Concretely with zero init: w = -lr * sum(g).
  SparseTable zero(MakeConfig(1, OptimizerKind::kSgd, 0.5f, InitKind::kZero, 0), 7);
  const uint64_t k[2] = {1, 1};
  const float g[2] = {2.0f, 4.0f};
  zero.Push(k, 2, g);
  EXPECT_FLOAT_EQ(PullOne(&zero, 1)[0], -3.0f);  // 0 - 0.5*2 - 0.5*4
}

TEST(SparseTableTest, ExtremeAndCollidingKeysKeepSeparateRows) {
  // Keys whose slot hashes share the top 16 bits share the home slot in any index of up to
  // 65536 slots: they form one probe run. Add keys homed at the neighbouring slot so runs merge.
  const uint64_t target = SparseTable::SlotHash(0) >> 48;
  std::vector<uint64_t> keys = {0, UINT64_MAX};
  int same = 0, next = 0;
  for (uint64_t k = 1; same < 6 || next < 3; ++k) {
    const uint64_t top = SparseTable::SlotHash(k) >> 48;
    if (top == target && same < 6) { keys.push_back(k); ++same; }
    if (top == ((target + 1) & 0xffff) && next < 3) { keys.push_back(k); ++next; }
  }
  SparseTable table(MakeConfig(2, OptimizerKind::kSgd, 1.0f, InitKind::kZero, 0), 1);
  std::vector<float> weights;
  for (size_t i = 0; i < keys.size(); ++i) {
    weights.push_back(float(i) + 1);
    weights.push_back(-float(i) - 1);
  }
  table.Assign(keys.data(), keys.size(), weights.data());
  ASSERT_EQ(table.size(), keys.size());
  // A key that is absent but homed in the same run is not found.
  uint64_t absent = keys.back() + 1;
  while ((SparseTable::SlotHash(absent) >> 48) != target) ++absent;
  EXPECT_EQ(table.Find(absent), nullptr);
  // Each key reads back its own weights, before and after an update of all of them.
  std::vector<float> out(2 * keys.size());
  table.Pull(keys.data(), keys.size(), out.data());
  EXPECT_EQ(out, weights);
  std::vector<float> grads(out.size(), 0.5f);
  table.Push(keys.data(), keys.size(), grads.data());
  table.Pull(keys.data(), keys.size(), out.data());
  for (size_t i = 0; i < out.size(); ++i) EXPECT_FLOAT_EQ(out[i], weights[i] - 0.5f) << i;
  EXPECT_EQ(table.size(), keys.size());
}

TEST(SparseTableTest, GrowthKeepsEveryRowAndRowPointers) {
  SparseTable table(MakeConfig(3, OptimizerKind::kAdaGrad, 0.1f, InitKind::kZero, 0), 1);
  const size_t n = 200000;  // ~15 doublings from the initial index
  auto key_of = [](size_t i) { return uint64_t(i) * 0x9E3779B97F4A7C15ULL + 12345; };
  const uint64_t first = key_of(0);
  const float* first_row = table.FindOrCreate(first);
  std::vector<uint64_t> keys(n);
  std::vector<float> weights(3 * n);
  for (size_t i = 0; i < n; ++i) {
    keys[i] = key_of(i);
    weights[3 * i] = float(i);
    weights[3 * i + 1] = -float(i);
    weights[3 * i + 2] = float(i % 97);
  }
  // Insert in batches, interleaved with pulls of earlier keys.
  for (size_t b = 0; b < n; b += 5000) {
    table.Assign(keys.data() + b, 5000, weights.data() + 3 * b);
    float probe[3];
    table.Pull(&first, 1, probe);
    ASSERT_EQ(probe[0], 0.0f);
  }
  EXPECT_EQ(table.size(), n);
  EXPECT_EQ(table.FindOrCreate(first), first_row);  // rows never moved
  std::vector<float> out(3 * n);
  table.Pull(keys.data(), n, out.data());
  EXPECT_EQ(table.size(), n);  // nothing created
  size_t mismatches = 0;
  for (size_t i = 0; i < 3 * n; ++i) mismatches += out[i] != weights[i];
  EXPECT_EQ(mismatches, 0u);
}

TEST(SparseTableTest, ForEachVisitsEveryRowOnce) {
  SparseTable table(MakeConfig(2, OptimizerKind::kSgd, 1.0f, InitKind::kUniform, 1.0f), 5);
  std::vector<uint64_t> keys = {0, UINT64_MAX};
  for (uint64_t i = 1; i <= 5000; ++i) keys.push_back(Mix64(i));
  std::vector<float> sink(2 * keys.size());
  table.Pull(keys.data(), keys.size(), sink.data());
  std::vector<uint64_t> seen;
  table.ForEach([&](uint64_t key, const float* row) {
    seen.push_back(key);
    EXPECT_EQ(row, table.Find(key));
  });
  std::sort(seen.begin(), seen.end());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(seen, keys);
}

TEST(SparseTableTest, RowInitIndependentOfPlacement) {
  for (InitKind kind : {InitKind::kUniform, InitKind::kNormal}) {
    const TableConfig cfg = MakeConfig(8, OptimizerKind::kFtrl, 0.1f, kind, 0.05f);
    const uint64_t key = 0xDEADBEEFCAFEULL;
    SparseTable small(cfg, 11), large(cfg, 11);
    for (uint64_t i = 0; i < 10; ++i) small.FindOrCreate(i);
    const std::vector<float> a = PullOne(&small, key);
    std::vector<uint64_t> others(100000);
    for (uint64_t i = 0; i < others.size(); ++i) others[i] = Mix64(i + 777);
    std::vector<float> sink(8 * others.size());
    large.Pull(others.data(), others.size(), sink.data());
    const std::vector<float> b = PullOne(&large, key);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, Expected(11, cfg, key));
    SparseTable other_seed(cfg, 12);
    EXPECT_NE(PullOne(&other_seed, key), a);
  }
}

TEST(SparseTableTest, AssignKeepsOptimizerStatistics) {
  TableConfig cfg = MakeConfig(1, OptimizerKind::kAdaGrad, 0.1f, InitKind::kZero, 0);
  cfg.optimizer.adagrad_eps = 0.0f;
  SparseTable table(cfg, 1);
  const uint64_t key = 42;
  float g = 3.0f;
  table.Push(&key, 1, &g);  // n = 9, w = -0.1*3/3 = -0.1
  EXPECT_FLOAT_EQ(PullOne(&table, key)[0], -0.1f);
  const float w = 1.0f;
  table.Assign(&key, 1, &w);
  EXPECT_FLOAT_EQ(table.Find(key)[1], 9.0f);  // accumulator kept
  g = 4.0f;
  table.Push(&key, 1, &g);  // n = 25, w = 1 - 0.1*4/5 = 0.92
  EXPECT_FLOAT_EQ(PullOne(&table, key)[0], 0.92f);

  // FTRL: assigned weights survive a zero-gradient update (z re-derived from w).
  SparseTable ftrl(MakeConfig(2, OptimizerKind::kFtrl, 0.1f, InitKind::kNormal, 0.1f), 1);
  const uint64_t keys[2] = {1, 2};  // key 1 exists before the assign, key 2 does not
  ftrl.FindOrCreate(1);
  const float grad_once[2] = {0.5f, -0.5f};
  ftrl.Push(keys, 1, grad_once);
  const float assigned[4] = {0.25f, -0.5f, 0.0f, 0.125f};
  ftrl.Assign(keys, 2, assigned);
  const float zero[4] = {0, 0, 0, 0};
  ftrl.Push(keys, 2, zero);
  std::vector<float> out(4);
  ftrl.Pull(keys, 2, out.data());
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], assigned[i], 1e-6) << i;
}

TEST(SparseTableTest, AssignRowsRestoresExactly) {
  const TableConfig cfg = MakeConfig(3, OptimizerKind::kAdam, 0.01f, InitKind::kUniform, 0.1f);
  SparseTable source(cfg, 3), restored(cfg, 3);
  std::vector<uint64_t> keys(100);
  std::vector<float> grads(300);
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = i * 31 + 1;
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = float(i % 7) - 3.0f;
  source.Push(keys.data(), keys.size(), grads.data());
  source.Push(keys.data(), 50, grads.data());  // half the rows get a second step (t = 2)
  std::vector<uint64_t> dump_keys;
  std::vector<float> dump_rows;
  source.ForEach([&](uint64_t key, const float* row) {
    dump_keys.push_back(key);
    dump_rows.insert(dump_rows.end(), row, row + source.row_floats());
  });
  restored.AssignRows(dump_keys.data(), dump_keys.size(), dump_rows.data());
  ASSERT_EQ(restored.size(), source.size());
  for (uint64_t key : keys) {
    EXPECT_EQ(std::vector<float>(source.Find(key), source.Find(key) + source.row_floats()),
              std::vector<float>(restored.Find(key), restored.Find(key) + restored.row_floats()));
  }
  EXPECT_EQ(source.Find(keys[0])[3 * 3], 2.0f);   // Adam step counter
  EXPECT_EQ(source.Find(keys[99])[3 * 3], 1.0f);
  source.Push(keys.data(), keys.size(), grads.data());
  restored.Push(keys.data(), keys.size(), grads.data());
  std::vector<float> a(300), b(300);
  source.Pull(keys.data(), keys.size(), a.data());
  restored.Pull(keys.data(), keys.size(), b.data());
  EXPECT_EQ(a, b);
}

TEST(SparseTableTest, MemoryReporting) {
  SparseTable table(MakeConfig(4, OptimizerKind::kAdaGrad, 0.1f, InitKind::kZero, 0), 1);
  const size_t row_bytes = 8 * sizeof(float);
  EXPECT_GE(table.BytesPerRow(), row_bytes + 16);
  table.Reserve(1000);
  for (uint64_t k = 0; k < 1000; ++k) table.FindOrCreate(k);
  // Index of 16-byte slots at load factor between 5/16 and 5/8: 25.6 .. 51.2 bytes per row.
  EXPECT_GE(table.BytesPerRow(), row_bytes + 25);
  EXPECT_LE(table.BytesPerRow(), row_bytes + 52);
  EXPECT_GE(table.MemoryBytes(), 1000 * table.BytesPerRow() - 1000);
}

// Micro-check (no timing): 1e6 distinct random keys through pull and push, in the batch sizes
// the network loop uses, all values checked.
TEST(SparseTableTest, MillionKeysPullPush) {
  const TableConfig cfg = MakeConfig(2, OptimizerKind::kSgd, 0.5f, InitKind::kUniform, 0.1f);
  SparseTable table(cfg, 2718);
  const size_t n = 1000000, batch = 4096;
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = Mix64(i ^ 0xABCDEF);  // bijection: distinct keys
  std::vector<float> init(2 * n), grads(2 * n), out(2 * n);
  for (size_t b = 0; b < n; b += batch) {
    const size_t m = std::min(batch, n - b);
    table.Pull(keys.data() + b, m, init.data() + 2 * b);
  }
  ASSERT_EQ(table.size(), n);
  size_t bad_init = 0;
  float expect[2];
  for (size_t i = 0; i < n; ++i) {
    InitRowWeights(2718, cfg.id, keys[i], cfg.init, 2, expect);
    bad_init += expect[0] != init[2 * i] || expect[1] != init[2 * i + 1];
    grads[2 * i] = float(i % 1000) * 0.001f;
    grads[2 * i + 1] = -float(i % 333) * 0.01f;
  }
  EXPECT_EQ(bad_init, 0u);
  for (size_t b = 0; b < n; b += batch) {
    const size_t m = std::min(batch, n - b);
    table.Push(keys.data() + b, m, grads.data() + 2 * b);
  }
  table.Pull(keys.data(), n, out.data());
  size_t bad = 0;
  for (size_t i = 0; i < 2 * n; ++i) bad += out[i] != init[i] - 0.5f * (grads[i] + 0.0f * init[i]);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(table.size(), n);
}
}  // namespace
}  // namespace embark
