// Tests of bounded memory on the servers: the count-min sketch (CountMinSketchTest), the flag
// parsers (BoundedMemoryParseTest), SparseTable's bounded mode (BoundedTableTest) and a server
// driven through Server::Handle with admission, TTL and a byte budget (BoundedServerTest).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ps/bounded_memory.h"
#include "ps/count_min_sketch.h"
#include "ps/row_eviction.h"
#include "ps/row_init.h"
#include "ps/server.h"
#include "ps/sparse_table.h"

namespace embark {
namespace {

#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

// ---------------------------------------------------------------------------------------------
// CountMinSketch
// ---------------------------------------------------------------------------------------------

TEST(CountMinSketchTest, ExactWithoutCollisionsAndSaturatesAt255) {
  CountMinSketch sketch(1 << 16, 1);
  EXPECT_EQ(sketch.width(), size_t{1} << 16);
  EXPECT_EQ(sketch.MemoryBytes(), size_t{4} << 16);
  for (uint64_t k = 0; k < 20; ++k)
    for (uint64_t i = 0; i <= k; ++i) EXPECT_EQ(sketch.Add(k), i + 1);
  for (uint64_t k = 0; k < 20; ++k) EXPECT_EQ(sketch.Estimate(k), k + 1);
  EXPECT_EQ(sketch.Estimate(12345), 0u);
  for (int i = 0; i < 300; ++i) sketch.Add(999);
  EXPECT_EQ(sketch.Estimate(999), 255u);
  EXPECT_EQ(sketch.Add(999), 255u);
  // Widths are rounded down to a power of two, at least 16.
  EXPECT_EQ(CountMinSketch(1000, 1).width(), 512u);
  EXPECT_EQ(CountMinSketch(3, 1).width(), 16u);
}

TEST(CountMinSketchTest, NeverUnderCountsAndOverCountStaysWithinTheBound) {
  // 2000 keys, key i occurring 1 + i % 5 times (6000 occurrences), interleaved in a shuffled
  // order, into 256 counters per row: heavy collisions.
  constexpr size_t kWidth = 256;
  std::vector<uint64_t> stream;
  std::map<uint64_t, uint32_t> truth;
  for (uint64_t i = 0; i < 2000; ++i) {
    const uint64_t key = i * 7919 + 13;
    truth[key] = 1 + i % 5;
    for (uint32_t c = 0; c < truth[key]; ++c) stream.push_back(key);
  }
  std::shuffle(stream.begin(), stream.end(), std::mt19937_64(3));
  CountMinSketch sketch(kWidth, 42);
  std::map<uint64_t, uint32_t> seen;
  for (uint64_t key : stream) {
    const uint32_t est = sketch.Add(key);
    EXPECT_GE(est, ++seen[key]) << "key " << key;  // never under, also while counting
  }
  // e*N/width bounds the plain sketch's over-count with probability 1 - e^-4 per key.
  const double bound = 2.718281828 * static_cast<double>(stream.size()) / kWidth;
  double total_over = 0;
  uint32_t within = 0;
  for (const auto& [key, count] : truth) {
    const uint32_t est = sketch.Estimate(key);
    ASSERT_GE(est, count) << "key " << key;
    total_over += est - count;
    within += (est - count) <= bound;
  }
  EXPECT_GE(within, truth.size() * 98 / 100) << "bound " << bound;
  // Conservative update does much better than the bound on average.
  EXPECT_LT(total_over / truth.size(), bound / 2);
  std::printf("mean over-count %.2f (bound %.1f)\n", total_over / truth.size(), bound);
}

TEST(CountMinSketchTest, ConservativeUpdateLeavesHigherCountersAlone) {
  // Width 16: every key shares counters with others. After a heavy key, a light key that
  // shares some of its counters is estimated below the heavy key's count.
  CountMinSketch sketch(16, 5);
  for (int i = 0; i < 50; ++i) sketch.Add(1);
  for (uint64_t k = 2; k < 40; ++k) {
    const uint32_t before = sketch.Estimate(k);
    const uint32_t after = sketch.Add(k);
    EXPECT_EQ(after, std::min<uint32_t>(before + 1, 255));
  }
  EXPECT_GE(sketch.Estimate(1), 50u);
}

// ---------------------------------------------------------------------------------------------
// Flag parsers
// ---------------------------------------------------------------------------------------------

TEST(BoundedMemoryParseTest, ByteSizes) {
  uint64_t b = 0;
  ASSERT_TRUE(ParseByteSize("1048576", &b).ok());
  EXPECT_EQ(b, 1048576u);
  ASSERT_TRUE(ParseByteSize("512M", &b).ok());
  EXPECT_EQ(b, uint64_t{512} << 20);
  ASSERT_TRUE(ParseByteSize("2G", &b).ok());
  EXPECT_EQ(b, uint64_t{2} << 30);
  ASSERT_TRUE(ParseByteSize("64KiB", &b).ok());
  EXPECT_EQ(b, uint64_t{64} << 10);
  ASSERT_TRUE(ParseByteSize("3mb", &b).ok());
  EXPECT_EQ(b, uint64_t{3} << 20);
  for (const char* bad : {"", "M", "12X", "-1", "1.5G", "99999999999999999999", "20000000000T"}) {
    Status st = ParseByteSize(bad, &b);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_CONTAINS(st.message(), std::string("'") + bad + "'");
  }
}

TEST(BoundedMemoryParseTest, Ttl) {
  uint64_t steps = 9;
  uint32_t epochs = 9;
  ASSERT_TRUE(ParseTtl("3epochs", &steps, &epochs).ok());
  EXPECT_EQ(steps, 0u);
  EXPECT_EQ(epochs, 3u);
  ASSERT_TRUE(ParseTtl("1epoch", &steps, &epochs).ok());
  EXPECT_EQ(epochs, 1u);
  ASSERT_TRUE(ParseTtl("1000", &steps, &epochs).ok());
  EXPECT_EQ(steps, 1000u);
  EXPECT_EQ(epochs, 0u);
  ASSERT_TRUE(ParseTtl("250steps", &steps, &epochs).ok());
  EXPECT_EQ(steps, 250u);
  for (const char* bad : {"", "0", "0epochs", "3days", "epochs", "-2"}) {
    Status st = ParseTtl(bad, &steps, &epochs);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_CONTAINS(st.message(), "--ttl=");
  }
}

// ---------------------------------------------------------------------------------------------
// SparseTable, bounded mode
// ---------------------------------------------------------------------------------------------

TableConfig SgdTable(uint32_t dim, InitKind init, float scale) {
  TableConfig cfg;
  cfg.id = 3;
  cfg.name = "t";
  cfg.dim = dim;
  cfg.optimizer.kind = OptimizerKind::kSgd;
  cfg.optimizer.lr = 1.0f;
  cfg.init.kind = init;
  cfg.init.scale = scale;
  return cfg;
}

std::vector<float> Init(const TableConfig& cfg, uint64_t seed, uint64_t key) {
  std::vector<float> out(cfg.dim);
  InitRowWeights(seed, cfg.id, key, cfg.init, static_cast<int>(cfg.dim), out.data());
  return out;
}

TEST(BoundedTableTest, PullNeverCreatesRowsAndReturnsTheInitRow) {
  const TableConfig cfg = SgdTable(5, InitKind::kNormal, 0.1f);
  BoundedMemoryOptions mem;
  mem.ttl_steps = 100;
  SparseTable table(cfg, 11, &mem);
  ASSERT_TRUE(table.bounded());
  EXPECT_EQ(table.RowBytes(), (5 + 1) * sizeof(float));  // weights + stamp (SGD has no state)
  const std::vector<uint64_t> keys = {1, 2, 3, 2};
  std::vector<float> out(keys.size() * 5);
  table.PullOrInit(keys.data(), keys.size(), out.data());
  EXPECT_EQ(table.size(), 0u);
  for (size_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(std::vector<float>(out.begin() + i * 5, out.begin() + (i + 1) * 5), Init(cfg, 11, keys[i]));
  // Without admission the first push creates the row, from exactly that init row.
  const std::vector<float> g = {1, 2, 3, 4, 5};
  table.set_step(1);
  table.PushOrAdmit(&keys[1], 1, g.data());
  ASSERT_EQ(table.size(), 1u);
  std::vector<float> w(5);
  table.PullOrInit(&keys[1], 1, w.data());
  const std::vector<float> init = Init(cfg, 11, keys[1]);
  for (int j = 0; j < 5; ++j) EXPECT_EQ(w[j], init[j] - g[j]);
  EXPECT_EQ(table.counters().admitted, 1u);
}

TEST(BoundedTableTest, AdmissionAtTheMinCountThPushAppliesOnlyThatGradient) {
  const TableConfig cfg = SgdTable(2, InitKind::kZero, 0);
  BoundedMemoryOptions mem;
  mem.min_count = 3;
  mem.sketch_bytes = 1 << 16;
  SparseTable table(cfg, 1, &mem);
  EXPECT_EQ(table.SketchBytes(), size_t{1} << 16);
  const uint64_t key = 77;
  for (int push = 1; push <= 4; ++push) {
    const std::vector<float> g = {static_cast<float>(push), -1.0f};
    table.set_step(push);
    table.PushOrAdmit(&key, 1, g.data());
    EXPECT_EQ(table.size(), push >= 3 ? 1u : 0u) << "after push " << push;
  }
  std::vector<float> w(2);
  table.PullOrInit(&key, 1, w.data());
  EXPECT_EQ(w, (std::vector<float>{-(3.0f + 4.0f), 2.0f}));  // pushes 3 and 4 applied
  EXPECT_EQ(table.counters().rejected_pushes, 2u);
  EXPECT_EQ(table.counters().admitted, 1u);
}

TEST(BoundedTableTest, AdmitProbabilityIsACoinPerPushThatDependsOnTheKeyOnly) {
  const TableConfig cfg = SgdTable(1, InitKind::kZero, 0);
  BoundedMemoryOptions mem;
  mem.min_count = CountMinSketch::kMaxCount;  // what --admit_probability alone sets
  mem.admit_probability = 0.25;
  mem.sketch_bytes = 1 << 20;
  SparseTable forward(cfg, 9, &mem), backward(cfg, 9, &mem, /*sub_shards=*/2);
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 4000; ++k) keys.push_back(k * 104729 + 3);
  const float g = 1.0f;
  std::set<uint64_t> admitted_first, admitted_second;
  for (int push = 1; push <= 2; ++push) {
    for (uint64_t k : keys) forward.PushOrAdmit(&k, 1, &g);
    for (auto it = keys.rbegin(); it != keys.rend(); ++it) backward.PushOrAdmit(&*it, 1, &g);
    for (uint64_t k : keys) {
      EXPECT_EQ(forward.Find(k) != nullptr, backward.Find(k) != nullptr) << "key " << k << " push " << push;
      if (forward.Find(k) != nullptr) (push == 1 ? admitted_first : admitted_second).insert(k);
    }
  }
  // About p of the keys at the first push, about p of the rest at the second.
  EXPECT_NEAR(admitted_first.size() / 4000.0, 0.25, 0.03);
  EXPECT_NEAR((admitted_second.size() - admitted_first.size()) / 3000.0, 0.25, 0.03);
  for (uint64_t k : admitted_first) EXPECT_EQ(admitted_second.count(k), 1u);
}

TEST(BoundedTableTest, EvictionShrinksTheIndexSoTheBudgetIsNotLeftToIt) {
  const TableConfig cfg = SgdTable(1, InitKind::kZero, 0.0f);  // small rows: the index dominates
  BoundedMemoryOptions mem;
  mem.ttl_steps = 1;
  SparseTable table(cfg, 1, &mem);
  table.set_step(1);
  std::vector<uint64_t> keys(20000);
  for (uint64_t k = 0; k < keys.size(); ++k) keys[k] = Mix64(k + 1);
  const std::vector<float> g(1, 1.0f);
  for (uint64_t& k : keys) table.PushOrAdmit(&k, 1, g.data());
  ASSERT_EQ(table.size(), keys.size());
  const uint64_t full = table.HeldBytes();
  table.set_step(5);
  std::vector<uint64_t> kept(keys.begin(), keys.begin() + 100);
  for (uint64_t& k : kept) table.PushOrAdmit(&k, 1, g.data());  // these stay young
  EXPECT_EQ(table.EvictIdle(2, SparseTable::EvictReason::kTtl), keys.size() - kept.size());
  // 100 rows left: the index is back to a few hundred slots, not the 32768 it grew to.
  EXPECT_LT(table.HeldBytes(), full / 50) << "index not shrunk: " << table.HeldBytes() << " of " << full;
  for (uint64_t k : kept) EXPECT_NE(table.Find(k), nullptr);
  for (size_t i = 100; i < keys.size(); ++i) ASSERT_EQ(table.Find(keys[i]), nullptr);
}

TEST(BoundedTableTest, EvictionKeepsEveryOtherKeyReachableAndReusesRows) {
  const TableConfig cfg = SgdTable(3, InitKind::kUniform, 0.5f);
  BoundedMemoryOptions mem;
  mem.ttl_steps = 1;
  SparseTable table(cfg, 2, &mem);
  // 3000 keys, pushed at steps 1..3 (key k at step 1 + k % 3), gradient = key-derived.
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < 3000; ++k) keys.push_back(Mix64(k) % 100000);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  auto grad = [](uint64_t key) { return std::vector<float>{static_cast<float>(key % 64), 1.0f, -0.5f}; };
  for (uint32_t step = 1; step <= 3; ++step) {
    table.set_step(step);
    for (size_t i = 0; i < keys.size(); ++i)
      if (1 + i % 3 == step) table.PushOrAdmit(&keys[i], 1, grad(keys[i]).data());
  }
  ASSERT_EQ(table.size(), keys.size());
  const size_t arena = table.MemoryBytes();
  // At step 3, ages are 2, 1, 0: evicting age >= 2 removes exactly the step-1 keys.
  const size_t evicted = table.EvictIdle(2, SparseTable::EvictReason::kTtl);
  EXPECT_EQ(evicted, (keys.size() + 2) / 3);
  EXPECT_EQ(table.counters().evicted_ttl, evicted);
  for (size_t i = 0; i < keys.size(); ++i) {
    const float* row = table.Find(keys[i]);
    if (i % 3 == 0) {
      EXPECT_EQ(row, nullptr) << "key " << keys[i] << " should be evicted";
    } else {
      ASSERT_NE(row, nullptr) << "key " << keys[i] << " lost by a deletion";
      const std::vector<float> init = Init(cfg, 2, keys[i]);
      const std::vector<float> g = grad(keys[i]);
      for (int j = 0; j < 3; ++j) EXPECT_EQ(row[j], init[j] - g[j]);
    }
  }
  // Returning keys start again from init, in the freed rows (the arena does not grow).
  table.set_step(4);
  for (size_t i = 0; i < keys.size(); i += 3) {
    const std::vector<float> g = {1, 1, 1};
    table.PushOrAdmit(&keys[i], 1, g.data());
    const float* row = table.Find(keys[i]);
    ASSERT_NE(row, nullptr);
    const std::vector<float> init = Init(cfg, 2, keys[i]);
    for (int j = 0; j < 3; ++j) EXPECT_EQ(row[j], init[j] - 1.0f);
  }
  EXPECT_EQ(table.size(), keys.size());
  EXPECT_EQ(table.MemoryBytes(), arena);
}

TEST(BoundedTableTest, EvictColdestFreesTheOldestRowsAcrossTables) {
  const TableConfig a_cfg = SgdTable(3, InitKind::kZero, 0);  // 16-byte rows
  TableConfig b_cfg = SgdTable(7, InitKind::kZero, 0);        // 32-byte rows
  b_cfg.id = 4;
  BoundedMemoryOptions mem;
  mem.budget_bytes = 1;
  SparseTable a(a_cfg, 1, &mem), b(b_cfg, 1, &mem);
  const std::vector<float> g(7, 1.0f);
  // Keys 0..9 of a at steps 1..10 and keys 100..109 of b at steps 1..10; both clocks at 10.
  for (uint32_t step = 1; step <= 10; ++step) {
    a.set_step(step);
    b.set_step(step);
    const uint64_t ka = step - 1, kb = 100 + step - 1;
    a.PushOrAdmit(&ka, 1, g.data());
    b.PushOrAdmit(&kb, 1, g.data());
  }
  // Free 100 bytes: ages 9 (16 + 32 bytes), 8 (48) go whole = 96; age 7 gives one more row.
  const uint64_t evicted = EvictColdest({&a, nullptr, &b}, 100);
  EXPECT_EQ(evicted, 5u);
  EXPECT_EQ(a.Find(0), nullptr);
  EXPECT_EQ(a.Find(1), nullptr);
  EXPECT_EQ(b.Find(100), nullptr);
  EXPECT_EQ(b.Find(101), nullptr);
  EXPECT_EQ((a.Find(2) == nullptr) + (b.Find(102) == nullptr), 1);  // one row of age 7
  for (uint64_t k = 3; k < 10; ++k) {
    EXPECT_NE(a.Find(k), nullptr);
    EXPECT_NE(b.Find(100 + k), nullptr);
  }
  EXPECT_EQ(a.counters().evicted_memory + b.counters().evicted_memory, 5u);
}

// ---------------------------------------------------------------------------------------------
// Server through Handle
// ---------------------------------------------------------------------------------------------

constexpr uint64_t kSeed = 7;
constexpr uint32_t kEmb = 0;  // sparse, dim 4, SGD lr 1, zero init: 20-byte rows with the stamp
constexpr uint32_t kLin = 1;  // sparse, dim 3, SGD lr 0.5, uniform init
constexpr uint32_t kMlp = 2;  // dense
constexpr int kWorkerRank = 9;

std::vector<TableConfig> Tables() {
  TableConfig emb;
  emb.name = "emb";
  emb.dim = 4;
  emb.optimizer.kind = OptimizerKind::kSgd;
  emb.optimizer.lr = 1.0f;
  TableConfig lin;
  lin.name = "lin";
  lin.dim = 3;
  lin.optimizer.kind = OptimizerKind::kSgd;
  lin.optimizer.lr = 0.5f;
  lin.init.kind = InitKind::kUniform;
  lin.init.scale = 0.5f;
  TableConfig mlp;
  mlp.name = "mlp";
  mlp.dense = true;
  mlp.dense_size = 100;
  mlp.optimizer.kind = OptimizerKind::kSgd;
  return {emb, lin, mlp};
}

const Placement& TestPlacement() {
  static const Placement* placement = new Placement(ShardMap::Balanced(2), Tables());
  return *placement;
}

std::unique_ptr<Server> MakeServer(int threads, const BoundedMemoryOptions& mem) {
  ServerOptions opts;
  opts.threads = threads;
  opts.seed = kSeed;
  opts.memory = mem;
  return std::make_unique<Server>(nullptr, nullptr, TestPlacement(), 0, opts);
}

std::vector<uint64_t> KeysOfServer0(uint32_t table, size_t n, uint64_t from) {
  std::vector<uint64_t> keys;
  for (uint64_t k = from; keys.size() < n; ++k)
    if (TestPlacement().ServerOf(table, k) == 0) keys.push_back(k);
  return keys;
}

uint64_t g_id = 1;

std::vector<float> Call(Server& s, MsgType type, uint32_t table, const std::vector<uint64_t>& keys,
                        const std::vector<float>* vals) {
  Message m;
  m.header = MakeHeader(type, kWorkerRank, ++g_id);
  m.header.table = table;
  m.header.num_keys = static_cast<uint32_t>(keys.size());
  m.header.val_len = TestPlacement().RowWidth(table);
  m.header.aux = Mix64(keys.empty() ? 0 : keys[0]) | 1;  // a key-set id, as workers send
  m.frames.emplace_back(keys.data(), keys.size() * sizeof(uint64_t));
  if (vals != nullptr) m.frames.emplace_back(vals->data(), vals->size() * sizeof(float));
  m.header.num_frames = static_cast<uint32_t>(m.frames.size());
  m.peer = kWorkerRank;
  MsgHeader reply;
  std::vector<zmq::message_t> frames;
  Status st = s.Handle(m, &reply, &frames);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (frames.empty() || type == MsgType::kPush) return {};
  const float* p = frames[0].data<float>();
  return std::vector<float>(p, p + frames[0].size() / sizeof(float));
}
std::vector<float> Pull(Server& s, uint32_t t, const std::vector<uint64_t>& keys) {
  return Call(s, MsgType::kPull, t, keys, nullptr);
}
void Push(Server& s, uint32_t t, const std::vector<uint64_t>& keys, float g) {
  const std::vector<float> grads(keys.size() * TestPlacement().RowWidth(t), g);
  Call(s, MsgType::kPush, t, keys, &grads);
}

std::vector<float> InitialRows(uint32_t table, const std::vector<uint64_t>& keys) {
  const TableConfig& cfg = TestPlacement().table(table);
  std::vector<float> out(keys.size() * cfg.dim);
  for (size_t i = 0; i < keys.size(); ++i)
    InitRowWeights(kSeed, table, keys[i], cfg.init, static_cast<int>(cfg.dim), out.data() + i * cfg.dim);
  return out;
}

class BoundedServerTest : public ::testing::TestWithParam<int> {};  // parameter: server threads

TEST_P(BoundedServerTest, AdmissionThresholdIsExact) {
  BoundedMemoryOptions mem;
  mem.min_count = 3;
  mem.sketch_bytes = 1 << 20;
  auto server = MakeServer(GetParam(), mem);
  const std::vector<uint64_t> keys = KeysOfServer0(kLin, 50, 1000);
  const std::vector<float> init = InitialRows(kLin, keys);
  for (int push = 1; push <= 2; ++push) {
    // The worker's pattern: pull, then push the same keys.
    EXPECT_EQ(Pull(*server, kLin, keys), init) << "a non-admitted key is served its init row";
    Push(*server, kLin, keys, 1.0f);
    EXPECT_EQ(server->RowsHeld(kLin), 0u) << "after push " << push;
  }
  EXPECT_EQ(Pull(*server, kLin, keys), init);
  Push(*server, kLin, keys, 2.0f);  // the third push admits every key and is applied
  EXPECT_EQ(server->RowsHeld(kLin), keys.size());
  std::vector<float> expected = init;
  for (float& w : expected) w -= 0.5f * 2.0f;
  EXPECT_EQ(Pull(*server, kLin, keys), expected);
  const MemoryStats m = server->Memory();
  EXPECT_EQ(m.rows_held, 50u);
  EXPECT_EQ(m.admitted, 50u);
  EXPECT_EQ(m.rejected_pushes, 100u);
  EXPECT_EQ(m.evicted_ttl + m.evicted_memory, 0u);
  // Keys of another table count separately: one push of the same ids to kEmb admits nothing.
  Push(*server, kEmb, KeysOfServer0(kEmb, 50, 1000), 1.0f);
  EXPECT_EQ(server->RowsHeld(kEmb), 0u);
}

TEST_P(BoundedServerTest, TtlInStepsEvictsRowsNotPushedForMoreThanNSteps) {
  BoundedMemoryOptions mem;
  mem.ttl_steps = 8;  // sweeps every 2 steps; a row goes at the first sweep with age >= 9
  auto server = MakeServer(GetParam(), mem);
  const std::vector<uint64_t> old_keys = KeysOfServer0(kEmb, 30, 1000);
  const std::vector<uint64_t> hot = KeysOfServer0(kEmb, 10, 50000);
  Push(*server, kEmb, old_keys, 1.0f);  // step 1
  for (int step = 2; step <= 9; ++step) {
    Push(*server, kEmb, hot, 1.0f);
    Pull(*server, kEmb, old_keys);  // pulls do not keep rows alive
    EXPECT_EQ(server->RowsHeld(kEmb), 40u) << "step " << step;
  }
  Push(*server, kEmb, hot, 1.0f);  // step 10: old rows are 9 steps old, and a sweep is due
  EXPECT_EQ(server->RowsHeld(kEmb), 10u);
  EXPECT_EQ(server->Memory().evicted_ttl, 30u);
  // They come back from init (zeros), like new rows.
  Push(*server, kEmb, old_keys, 0.5f);
  EXPECT_EQ(Pull(*server, kEmb, old_keys), std::vector<float>(30 * 4, -0.5f));
  EXPECT_EQ(server->Memory().admitted, 70u);
}

TEST_P(BoundedServerTest, TtlInEpochsAndTheReportsMatchHandCounts) {
  BoundedMemoryOptions mem;
  mem.ttl_epochs = 1;
  mem.min_count = 2;
  mem.sketch_bytes = 1 << 20;
  auto server = MakeServer(GetParam(), mem);
  const std::vector<uint64_t> a = KeysOfServer0(kEmb, 20, 1000);
  const std::vector<uint64_t> b = KeysOfServer0(kEmb, 12, 90000);
  const std::vector<uint64_t> once = KeysOfServer0(kEmb, 5, 500000);
  // Epoch 1: a twice (admitted at the second push), b twice, once once (rejected).
  Push(*server, kEmb, a, 1.0f);
  Push(*server, kEmb, b, 1.0f);
  Push(*server, kEmb, a, 1.0f);
  Push(*server, kEmb, b, 1.0f);
  Push(*server, kEmb, once, 1.0f);
  EXPECT_EQ(server->OnEpochEnd(),
            "rows_held=32 rows_admitted=32 rejected_pushes=37 rows_evicted_ttl=0 rows_evicted_memory=0 held_bytes=" +
                std::to_string(server->Memory().held_bytes) + " peak_bytes=" + std::to_string(server->Memory().peak_bytes));
  // Epoch 2: only b is pushed; a is evicted at its end.
  Push(*server, kEmb, b, 1.0f);
  const std::string report = server->OnEpochEnd();
  EXPECT_CONTAINS(report, "rows_held=12 rows_admitted=32 rejected_pushes=37 rows_evicted_ttl=20 rows_evicted_memory=0");
  EXPECT_EQ(server->RowsHeld(kEmb), 12u);
  EXPECT_EQ(Pull(*server, kEmb, b), std::vector<float>(12 * 4, -2.0f));
  EXPECT_EQ(Pull(*server, kEmb, a), std::vector<float>(20 * 4, 0.0f));
  // Returning keys go through admission again; their earlier pushes are still counted, so
  // one push re-admits them (from init).
  Push(*server, kEmb, a, 1.0f);
  EXPECT_EQ(server->RowsHeld(kEmb), 32u);
  EXPECT_EQ(Pull(*server, kEmb, a), std::vector<float>(20 * 4, -1.0f));
  const std::string end = server->MemoryEndReport();
  EXPECT_CONTAINS(end, "server 0 memory end: rows_held=32 rows_admitted=52 rejected_pushes=37 rows_evicted_ttl=20 "
                       "rows_evicted_memory=0 held_bytes=");
  EXPECT_CONTAINS(end, "| emb rows_held=32 rows_admitted=52 rejected_pushes=37 rows_evicted_ttl=20 rows_evicted_memory=0");
  EXPECT_CONTAINS(end, "| lin rows_held=0 rows_admitted=0 rejected_pushes=0");
  // Start report: emb rows are 16 bytes of weights + 4 of stamp, + 26 of index at load 5/8;
  // fixed bytes are both sketches (1 MiB per table per server) plus the dense block.
  const std::string start = server->MemoryStartReport();
  EXPECT_CONTAINS(start, "server 0 memory start: budget_bytes=0 fixed_bytes=");
  EXPECT_CONTAINS(start, "| emb bytes_per_row=46 weights=16 optimizer=0 stamp=4 index=26..51");
  EXPECT_CONTAINS(start, "| lin bytes_per_row=42 weights=12 optimizer=0 stamp=4");
}

TEST_P(BoundedServerTest, BudgetKeepsHeldBytesUnderItAndEvictsTheColdest) {
  BoundedMemoryOptions mem;
  mem.budget_bytes = 1;  // replaced below, once the fixed bytes are known
  const uint64_t base = MakeServer(GetParam(), mem)->Memory().held_bytes;  // dense + empty indexes
  mem.budget_bytes = base + 20000;
  auto server = MakeServer(GetParam(), mem);
  // 200 steps of 10 new keys each (20-byte rows + index): several times the budget.
  std::vector<std::vector<uint64_t>> steps;
  for (int s = 0; s < 200; ++s) {
    steps.push_back(KeysOfServer0(kEmb, 10, 1000 + 1000 * s));
    Push(*server, kEmb, steps.back(), 1.0f);
    const MemoryStats m = server->Memory();
    ASSERT_LE(m.held_bytes, mem.budget_bytes) << "after step " << s + 1;
  }
  const MemoryStats m = server->Memory();
  EXPECT_GT(m.evicted_memory, 0u);
  EXPECT_GT(m.rows_held, 50u) << "a sweep should stop at the low watermark, not empty the tables";
  EXPECT_EQ(m.admitted, 2000u);
  EXPECT_EQ(m.rows_held + m.evicted_memory, 2000u);
  EXPECT_GE(m.peak_bytes, m.held_bytes);
  EXPECT_GT(m.peak_bytes, mem.budget_bytes) << "the peak is measured before the sweep";
  // The coldest went first: in every sub-shard, no evicted row was pushed after a held one.
  const int parts = GetParam();
  std::vector<int> newest_evicted(parts, -1), oldest_held(parts, 1 << 30);
  for (int s = 0; s < 200; ++s) {
    const std::vector<float> rows = Pull(*server, kEmb, steps[s]);
    for (size_t i = 0; i < steps[s].size(); ++i) {
      const int part = TestPlacement().shards().SubShardOf(steps[s][i], parts, kEmb);
      const bool held = rows[i * 4] != 0.0f;  // pushed rows hold -1, evicted ones their zero init
      if (held) {
        oldest_held[part] = std::min(oldest_held[part], s);
      } else {
        newest_evicted[part] = std::max(newest_evicted[part], s);
      }
    }
  }
  for (int p = 0; p < parts; ++p) {
    EXPECT_GE(newest_evicted[p], 0) << "sub-shard " << p << " evicted nothing";
    EXPECT_LE(newest_evicted[p], oldest_held[p]) << "sub-shard " << p;
  }
  // Dense tables are never evicted: the dense block still takes pushes.
  const std::vector<float> g(TestPlacement().RowWidth(kMlp), 1.0f);
  Call(*server, MsgType::kPush, kMlp, {0}, &g);
}

TEST_P(BoundedServerTest, CheckpointsHoldTheRowsPresent) {
  BoundedMemoryOptions mem;
  mem.min_count = 2;
  mem.sketch_bytes = 1 << 16;
  auto server = MakeServer(GetParam(), mem);
  const std::vector<uint64_t> twice = KeysOfServer0(kLin, 8, 1000);
  const std::vector<uint64_t> once = KeysOfServer0(kLin, 8, 70000);
  Push(*server, kLin, twice, 1.0f);
  Push(*server, kLin, twice, 1.0f);
  Push(*server, kLin, once, 1.0f);
  const std::string path = ::testing::TempDir() + "/bounded_" + std::to_string(GetParam()) + ".shard";
  uint64_t checksum = 0;
  ASSERT_TRUE(server->SaveShard(path, &checksum).ok());
  auto restored = MakeServer(GetParam(), mem);
  ASSERT_TRUE(restored->LoadShards({path}).ok());
  EXPECT_EQ(restored->RowsHeld(kLin), 8u);
  EXPECT_EQ(Pull(*restored, kLin, twice), Pull(*server, kLin, twice));
  EXPECT_EQ(Pull(*restored, kLin, once), InitialRows(kLin, once));
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Threads, BoundedServerTest, ::testing::Values(1, 3));

}  // namespace
}  // namespace embark
