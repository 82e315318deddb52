// Local-update training's pieces, without sockets: the servers' stored-row requests (kPullRows
// returns weights and optimizer state, kPushDelta adds to both, for sparse rows and padded
// dense blocks, with 1 and 3 sub-shard threads), a RowReplica whose optimizer steps, handed
// back as deltas, leave a server exactly where per-batch pushes of the same gradients leave a
// twin server, deltas of two workers adding up, a lone worker adopting its pushed rows, bad
// stored-row requests refused with nothing applied, and the EpochCache visiting every example
// once per epoch.
#include "worker/row_replica.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ps/row_init.h"
#include "ps/server.h"
#include "worker/epoch_cache.h"

namespace embark {
namespace {

constexpr uint64_t kSeed = 11;
constexpr uint32_t kEmb = 0;  // sparse, dim 5, AdaGrad
constexpr uint32_t kLin = 1;  // sparse, dim 1, FTRL
constexpr uint32_t kMlp = 2;  // dense, 20000 floats (a full block and a short one), AdaGrad
constexpr int kWorker = 9;

std::vector<TableConfig> Tables() {
  TableConfig emb;
  emb.name = "emb";
  emb.dim = 5;
  emb.optimizer.kind = OptimizerKind::kAdaGrad;
  emb.optimizer.lr = 0.1f;
  emb.init.kind = InitKind::kNormal;
  emb.init.scale = 0.1f;
  TableConfig lin;
  lin.name = "lin";
  lin.dim = 1;
  lin.optimizer.kind = OptimizerKind::kFtrl;
  lin.optimizer.lr = 0.05f;
  lin.optimizer.l1 = 0.001f;
  lin.init.kind = InitKind::kZero;
  TableConfig mlp;
  mlp.name = "mlp";
  mlp.dense = true;
  mlp.dense_size = 20000;
  mlp.optimizer.kind = OptimizerKind::kAdaGrad;
  mlp.optimizer.lr = 0.05f;
  mlp.init.kind = InitKind::kUniform;
  mlp.init.scale = 0.1f;
  return {emb, lin, mlp};
}

const Placement& TestPlacement() {
  static const Placement* placement = new Placement(ShardMap::Balanced(1), Tables());
  return *placement;
}

std::unique_ptr<Server> MakeServer(int threads, bool bounded = false) {
  ServerOptions opts;
  opts.threads = threads;
  opts.seed = kSeed;
  if (bounded) opts.memory.min_count = 2;
  return std::make_unique<Server>(nullptr, nullptr, TestPlacement(), 0, opts);
}

struct Reply {
  Status status;
  MsgHeader header;
  std::vector<zmq::message_t> frames;
  std::vector<float> Values() const {
    if (frames.empty()) return {};
    const float* p = frames[0].data<float>();
    return std::vector<float>(p, p + frames[0].size() / sizeof(float));
  }
  std::string Text() const { return frames.empty() ? std::string() : frames[0].to_string(); }
};

uint64_t g_id = 1;

Reply Call(Server& server, MsgType type, uint32_t table, const std::vector<uint64_t>& keys, uint32_t val_len,
           const std::vector<float>* vals) {
  Message m;
  m.header = MakeHeader(type, kWorker, ++g_id);
  m.header.table = table;
  m.header.num_keys = static_cast<uint32_t>(keys.size());
  m.header.val_len = val_len;
  m.frames.emplace_back(keys.data(), keys.size() * sizeof(uint64_t));
  if (vals != nullptr) m.frames.emplace_back(vals->data(), vals->size() * sizeof(float));
  m.header.num_frames = static_cast<uint32_t>(m.frames.size());
  m.peer = kWorker;
  Reply r;
  r.status = server.Handle(m, &r.header, &r.frames);
  return r;
}

std::vector<float> PullRows(Server& s, uint32_t t, const std::vector<uint64_t>& keys) {
  Reply r = Call(s, MsgType::kPullRows, t, keys, TestPlacement().StoredRowWidth(t), nullptr);
  EXPECT_TRUE(r.status.ok()) << r.status.ToString() << " " << r.Text();
  return r.Values();
}

Status PushDelta(Server& s, uint32_t t, const std::vector<uint64_t>& keys, const std::vector<float>& d) {
  return Call(s, MsgType::kPushDelta, t, keys, TestPlacement().StoredRowWidth(t), &d).status;
}

Status Push(Server& s, uint32_t t, const std::vector<uint64_t>& keys, const std::vector<float>& g) {
  return Call(s, MsgType::kPush, t, keys, TestPlacement().RowWidth(t), &g).status;
}

std::vector<float> Grads(size_t n, float scale) {
  std::vector<float> g(n);
  for (size_t i = 0; i < n; ++i) g[i] = scale * std::sin(0.7f * static_cast<float>(i) + 0.3f);
  return g;
}

void ExpectNear(const std::vector<float>& a, const std::vector<float>& b, float tol, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  EXPECT_LE(worst, tol) << what;
}

class StoredRowsTest : public ::testing::TestWithParam<int> {};  // server threads

TEST_P(StoredRowsTest, PullRowsGivesWeightsAndStateAndDeltasAdd) {
  auto server = MakeServer(GetParam());
  const std::vector<uint64_t> keys = {3, 99, 1234567, 42};
  const uint32_t width = TestPlacement().StoredRowWidth(kEmb);
  ASSERT_EQ(width, 10u);  // 5 weights + 5 AdaGrad accumulators
  std::vector<float> rows = PullRows(*server, kEmb, keys);
  ASSERT_EQ(rows.size(), keys.size() * width);
  for (size_t i = 0; i < keys.size(); ++i) {
    std::vector<float> init(5);
    InitRowWeights(kSeed, kEmb, keys[i], TestPlacement().table(kEmb).init, 5, init.data());
    for (int j = 0; j < 5; ++j) EXPECT_EQ(rows[i * width + j], init[j]) << "key " << keys[i];
    for (int j = 5; j < 10; ++j) EXPECT_EQ(rows[i * width + j], 0.0f) << "fresh accumulator";
  }
  const std::vector<float> delta = Grads(rows.size(), 0.25f);
  std::vector<float> delta_pos = delta;
  for (size_t i = 0; i < delta_pos.size(); ++i)
    if (i % width >= 5) delta_pos[i] = std::fabs(delta_pos[i]);  // accumulators only grow
  ASSERT_TRUE(PushDelta(*server, kEmb, keys, delta_pos).ok());
  const std::vector<float> after = PullRows(*server, kEmb, keys);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_FLOAT_EQ(after[i], rows[i] + delta_pos[i]);
  // Plain pulls see the new weights.
  Reply plain = Call(*server, MsgType::kPull, kEmb, keys, 5, nullptr);
  ASSERT_TRUE(plain.status.ok());
  for (size_t i = 0; i < keys.size(); ++i)
    for (int j = 0; j < 5; ++j) EXPECT_EQ(plain.Values()[i * 5 + j], after[i * width + j]);
}

TEST_P(StoredRowsTest, DenseBlocksTravelPaddedToTheStoredWidth) {
  auto server = MakeServer(GetParam());
  const uint32_t width = TestPlacement().RowWidth(kMlp);          // 16384
  const uint32_t stored = TestPlacement().StoredRowWidth(kMlp);   // 2 * 16384
  ASSERT_EQ(stored, 2 * width);
  const std::vector<uint64_t> blocks = {0, 1};
  std::vector<float> rows = PullRows(*server, kMlp, blocks);
  ASSERT_EQ(rows.size(), 2u * stored);
  const uint32_t short_len = 20000 - width;
  for (uint32_t j = short_len; j < width; ++j) ASSERT_EQ(rows[stored + j], 0.0f) << "weights padding";
  // Add to block 1's weights and accumulators; padding positions of a delta are ignored.
  std::vector<float> delta(2 * stored, 0.0f);
  for (uint32_t j = 0; j < short_len; ++j) {
    delta[stored + j] = 0.5f;
    delta[stored + width + j] = 2.0f;
  }
  ASSERT_TRUE(PushDelta(*server, kMlp, blocks, delta).ok());
  std::vector<float> after = PullRows(*server, kMlp, blocks);
  for (uint32_t j = 0; j < short_len; ++j) {
    EXPECT_FLOAT_EQ(after[stored + j], rows[stored + j] + 0.5f);
    EXPECT_FLOAT_EQ(after[stored + width + j], 2.0f);
  }
  for (uint32_t j = 0; j < stored; ++j) ASSERT_EQ(after[j], rows[j]) << "block 0 untouched";
}

// A replica that steps its optimizer locally and hands back deltas leaves the server where
// per-batch pushes of the same gradients leave a twin server: weights and state, every table.
TEST_P(StoredRowsTest, ReplicaDeltasEqualPushingTheGradients) {
  auto local = MakeServer(GetParam());
  auto twin = MakeServer(GetParam());
  RowReplica replica(TestPlacement());
  for (uint32_t t : {kEmb, kLin}) {
    const std::vector<uint64_t> keys = {5, 17, 123456789, 8};
    std::vector<uint64_t> missing;
    std::vector<uint32_t> index;
    for (uint64_t k : keys) index.push_back(replica.Resolve(t, k, &missing));
    ASSERT_EQ(missing.size(), keys.size());
    replica.Fill(t, missing.data(), missing.size(), PullRows(*local, t, missing).data());
    const uint32_t dim = TestPlacement().RowWidth(t);
    for (int step = 0; step < 3; ++step) {
      const std::vector<float> g = Grads(keys.size() * dim, 0.3f * (step + 1));
      for (size_t i = 0; i < keys.size(); ++i) replica.Apply(t, index[i], g.data() + i * dim);
      ASSERT_TRUE(Push(*twin, t, keys, g).ok());
    }
    EXPECT_EQ(replica.changed(t), keys.size());
    std::vector<uint64_t> dk;
    std::vector<float> dv;
    replica.CollectDeltas(t, &dk, &dv);
    ASSERT_TRUE(PushDelta(*local, t, dk, dv).ok());
    ExpectNear(PullRows(*local, t, keys), PullRows(*twin, t, keys), 1e-6f, "weights and state");
  }
  // Dense: the whole vector through the blocks.
  replica.Refresh(kMlp, PullRows(*local, kMlp, {0, 1}).data(), {0, 1});
  std::vector<float> g = Grads(20000, 0.01f);
  replica.ApplyDense(kMlp, g.data());
  std::vector<float> twin_grads(2 * TestPlacement().RowWidth(kMlp), 0.0f);
  std::copy(g.begin(), g.end(), twin_grads.begin());
  ASSERT_TRUE(Push(*twin, kMlp, {0, 1}, twin_grads).ok());
  std::vector<uint64_t> dk;
  std::vector<float> dv;
  replica.CollectDeltas(kMlp, &dk, &dv);
  ASSERT_TRUE(PushDelta(*local, kMlp, dk, dv).ok());
  ExpectNear(PullRows(*local, kMlp, {0, 1}), PullRows(*twin, kMlp, {0, 1}), 1e-6f, "dense blocks");
  std::vector<float> weights(20000);
  replica.DenseWeights(kMlp, weights.data());
  Reply plain = Call(*twin, MsgType::kPull, kMlp, {0, 1}, TestPlacement().RowWidth(kMlp), nullptr);
  for (size_t j = 0; j < 20000; ++j) ASSERT_NEAR(weights[j], plain.Values()[j], 1e-6f) << j;
}

INSTANTIATE_TEST_SUITE_P(Threads, StoredRowsTest, ::testing::Values(1, 3));

TEST(RowReplicaTest, TwoWorkersDeltasAddUpAndRefreshBringsThemBack) {
  auto server = MakeServer(1);
  RowReplica a(TestPlacement()), b(TestPlacement());
  const std::vector<uint64_t> keys = {1, 2, 3};
  const std::vector<float> base = PullRows(*server, kEmb, keys);
  for (RowReplica* r : {&a, &b}) {
    std::vector<uint64_t> missing;
    for (uint64_t k : keys) r->Resolve(kEmb, k, &missing);
    r->Fill(kEmb, missing.data(), missing.size(), base.data());
  }
  a.Apply(kEmb, 0, Grads(5, 1.0f).data());
  b.Apply(kEmb, 0, Grads(5, -0.5f).data());
  b.Apply(kEmb, 2, Grads(5, 2.0f).data());
  std::vector<float> da, db;
  std::vector<uint64_t> ka, kb;
  a.CollectDeltas(kEmb, &ka, &da);
  b.CollectDeltas(kEmb, &kb, &db);
  EXPECT_EQ(ka, std::vector<uint64_t>({1}));
  EXPECT_EQ(kb, std::vector<uint64_t>({1, 3}));
  ASSERT_TRUE(PushDelta(*server, kEmb, ka, da).ok());
  ASSERT_TRUE(PushDelta(*server, kEmb, kb, db).ok());
  const std::vector<float> now = PullRows(*server, kEmb, keys);
  for (int j = 0; j < 10; ++j) {
    EXPECT_NEAR(now[j], base[j] + da[j] + db[j], 1e-6f);
    EXPECT_NEAR(now[20 + j], base[20 + j] + db[10 + j], 1e-6f);
    EXPECT_EQ(now[10 + j], base[10 + j]);
  }
  // Refresh puts the servers' rows in and nothing counts as changed.
  a.Refresh(kEmb, now.data(), {0, 1, 2});
  EXPECT_EQ(a.changed(kEmb), 0u);
  for (int j = 0; j < 10; ++j) EXPECT_EQ(a.Row(kEmb, 2)[j], now[20 + j]);
  a.CollectDeltas(kEmb, &ka, &da);
  EXPECT_TRUE(ka.empty());
}

// A lone worker's block epochs do not read back the rows they pushed (no one else changed them):
// AdoptPushed makes each pushed row its own base. Two rounds of training, pushing and adopting
// keep the replica equal to the server's rows (within rounding); a base left at the first read
// would push round 1's change again in round 2 and leave the server ahead of the replica.
TEST(RowReplicaTest, ALoneWorkerAdoptsItsPushedRowsAndStaysEqualToTheServer) {
  auto server = MakeServer(1);
  RowReplica r(TestPlacement());
  const std::vector<uint64_t> keys = {1, 2, 3, 4};
  std::vector<uint64_t> missing;
  for (uint64_t k : keys) r.Resolve(kEmb, k, &missing);
  const std::vector<float> base = PullRows(*server, kEmb, keys);
  r.Fill(kEmb, missing.data(), missing.size(), base.data());
  const uint32_t w = r.stored_width(kEmb);
  for (int round = 0; round < 2; ++round) {
    r.Apply(kEmb, 0, Grads(5, 1.0f + round).data());
    r.Apply(kEmb, 2, Grads(5, -0.5f).data());
    std::vector<uint64_t> dk;
    std::vector<float> dv;
    std::vector<uint32_t> pushed;
    r.CollectDeltas(kEmb, &dk, &dv, &pushed);
    ASSERT_EQ(dk, std::vector<uint64_t>({1, 3})) << "round " << round;
    ASSERT_TRUE(PushDelta(*server, kEmb, dk, dv).ok());
    r.AdoptPushed(kEmb, pushed);
    EXPECT_EQ(r.changed(kEmb), 0u);
    EXPECT_TRUE(r.IsFresh(kEmb, 0) && r.IsFresh(kEmb, 2)) << "a pushed row must be usable without a read";
    EXPECT_FALSE(r.IsFresh(kEmb, 1) || r.IsFresh(kEmb, 3)) << "a row held but not pushed is read again";
    const std::vector<float> now = PullRows(*server, kEmb, keys);
    for (uint32_t i : {0u, 2u})
      for (uint32_t j = 0; j < w; ++j)
        EXPECT_NEAR(r.Row(kEmb, i)[j], now[i * w + j], 1e-5f) << "round " << round << " row " << i << " col " << j;
    r.CollectDeltas(kEmb, &dk, &dv);
    EXPECT_TRUE(dk.empty()) << "nothing changed since the adoption";
  }
}

TEST(RowReplicaTest, BadStoredRowRequestsAreRefusedAndChangeNothing) {
  auto server = MakeServer(1);
  const std::vector<uint64_t> keys = {7, 8};
  const std::vector<float> before = PullRows(*server, kEmb, keys);
  // Weight-width values are not stored rows.
  std::vector<float> narrow(10, 0.5f);
  Reply r = Call(*server, MsgType::kPushDelta, kEmb, keys, 5, &narrow);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.Text().find("row width 5"), std::string::npos) << r.Text();
  std::vector<float> bad(20, 0.5f);
  bad[13] = std::nanf("");
  r = Call(*server, MsgType::kPushDelta, kEmb, keys, 10, &bad);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.Text().find("non-finite"), std::string::npos) << r.Text();
  EXPECT_EQ(PullRows(*server, kEmb, keys), before);
  // A finite delta that would make an AdaGrad accumulator negative leaves it at 0 (a NaN
  // square root would freeze or poison the row).
  std::vector<float> negative(20, 0.0f);
  for (int j = 5; j < 10; ++j) negative[j] = -3.0f;
  ASSERT_TRUE(PushDelta(*server, kEmb, keys, negative).ok());
  const std::vector<float> clamped = PullRows(*server, kEmb, keys);
  for (int j = 5; j < 10; ++j) EXPECT_EQ(clamped[j], 0.0f);
  ASSERT_TRUE(Call(*server, MsgType::kPush, kEmb, keys, 5, &narrow).status.ok());
  for (float v : PullRows(*server, kEmb, keys)) EXPECT_TRUE(std::isfinite(v));
  // Bounded memory admits rows per push: stored-row requests would bypass it.
  auto bounded = MakeServer(1, /*bounded=*/true);
  r = Call(*bounded, MsgType::kPullRows, kEmb, keys, 10, nullptr);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.Text().find("--sync=exact"), std::string::npos) << r.Text();
}

TEST(EpochCacheTest, EveryExampleOncePerEpochInAFreshOrder) {
  EpochCache cache(size_t{1} << 20);
  Batch b;
  std::vector<int32_t> rows;
  for (int e = 0; e < 1000; ++e) {
    b.AddFeature(static_cast<uint64_t>(e), 1.0f, 0);
    rows.push_back(e);
    if (e % 3 == 0) {
      b.AddFeature(static_cast<uint64_t>(5000 + e), 0.5f, 1);
      rows.push_back(-1);
    }
    b.EndExample(static_cast<float>(e));
    if (b.size() == 64 || e == 999) {
      ASSERT_TRUE(cache.Add(b, rows));
      b.Clear();
      rows.clear();
    }
  }
  ASSERT_EQ(cache.examples(), 1000u);
  std::vector<std::vector<float>> orders;
  for (uint64_t seed : {1, 2}) {
    cache.Shuffle(seed);
    std::vector<float> order;
    Batch out;
    std::vector<int32_t> r;
    while (cache.Next(100, &out, &r)) {
      ASSERT_LE(out.size(), 100u);
      ASSERT_EQ(r.size(), out.num_features());
      for (size_t e = 0; e < out.size(); ++e) {
        const int id = static_cast<int>(out.labels[e]);
        const uint32_t f = out.offsets[e];
        ASSERT_EQ(out.keys[f], static_cast<uint64_t>(id)) << "features travel with their example";
        ASSERT_EQ(r[f], id);
        ASSERT_EQ(out.offsets[e + 1] - f, id % 3 == 0 ? 2u : 1u);
        order.push_back(out.labels[e]);
      }
    }
    std::vector<float> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted.size(), 1000u);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], static_cast<float>(i)) << "each example exactly once";
    orders.push_back(order);
  }
  EXPECT_NE(orders[0], orders[1]) << "another seed, another order";
  // Past its budget the cache refuses.
  EpochCache small(100);
  Batch big;
  std::vector<int32_t> big_rows;
  for (int i = 0; i < 20; ++i) {
    big.AddFeature(1, 1, 0);
    big_rows.push_back(0);
    big.EndExample(1);
  }
  EXPECT_FALSE(small.Add(big, big_rows));
}

}  // namespace
}  // namespace embark
