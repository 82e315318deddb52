// Tests of ps/server.h driven without sockets through Server::Handle: pulls of new rows return
// the deterministic initial weights, pushes apply the optimizer, fused push-pull, identical
// replies for 1 and 3 sub-shard threads, dense blocks (with the padded short last block), and
// error replies for every kind of bad request — which must leave every row untouched.
#include "ps/server.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ps/row_init.h"

namespace embark {
namespace {

// Checks that `text` contains `part`, printing both on failure.
#define EXPECT_CONTAINS(text, part)                                                  \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                        \
      << "'" << (text) << "' does not contain '" << (part) << "'"

constexpr uint64_t kSeed = 7;
constexpr uint32_t kEmb = 0;    // sparse, dim 4, SGD lr 1, zero init
constexpr uint32_t kLin = 1;    // sparse, dim 3, SGD lr 0.5, uniform init
constexpr uint32_t kMlp = 2;    // dense, 20000 floats: block 0 (16384) and block 1 (3616)
constexpr uint32_t kBlock = kDenseBlockFloats;
constexpr uint32_t kLastBlockLength = 20000 - kDenseBlockFloats;
constexpr int kWorkerRank = 9;

std::vector<TableConfig> Tables() {
  TableConfig emb;
  emb.name = "emb";
  emb.dim = 4;
  emb.optimizer.kind = OptimizerKind::kSgd;
  emb.optimizer.lr = 1.0f;
  emb.init.kind = InitKind::kZero;
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
  mlp.dense_size = 20000;
  mlp.optimizer.kind = OptimizerKind::kSgd;
  mlp.optimizer.lr = 1.0f;
  mlp.init.kind = InitKind::kUniform;
  mlp.init.scale = 0.1f;
  return {emb, lin, mlp};
}

const Placement& TestPlacement() {
  static const Placement* placement = new Placement(ShardMap::Balanced(2), Tables());
  return *placement;
}

std::unique_ptr<Server> MakeServer(int index, int threads) {
  ServerOptions opts;
  opts.threads = threads;
  opts.seed = kSeed;
  return std::make_unique<Server>(nullptr, nullptr, TestPlacement(), index, opts);
}

// The first `n` keys >= `from` of `table` that `server` owns.
std::vector<uint64_t> KeysOwnedBy(uint32_t table, int server, size_t n, uint64_t from = 1000) {
  std::vector<uint64_t> keys;
  for (uint64_t k = from; keys.size() < n; ++k) {
    if (TestPlacement().ServerOf(table, k) == server) keys.push_back(k);
  }
  return keys;
}

Message Request(MsgType type, uint32_t table, const std::vector<uint64_t>& keys, uint32_t val_len,
                const std::vector<float>* vals, uint64_t request_id) {
  Message m;
  m.header = MakeHeader(type, kWorkerRank, request_id);
  m.header.table = table;
  m.header.num_keys = static_cast<uint32_t>(keys.size());
  m.header.val_len = val_len;
  m.frames.emplace_back(keys.data(), keys.size() * sizeof(uint64_t));
  if (vals != nullptr) m.frames.emplace_back(vals->data(), vals->size() * sizeof(float));
  m.header.num_frames = static_cast<uint32_t>(m.frames.size());
  m.peer = kWorkerRank;
  return m;
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

Reply Call(Server& server, const Message& request) {
  Reply r;
  r.status = server.Handle(request, &r.header, &r.frames);
  return r;
}

uint64_t g_next_id = 100;

Reply Pull(Server& s, uint32_t table, const std::vector<uint64_t>& keys) {
  return Call(s, Request(MsgType::kPull, table, keys, TestPlacement().RowWidth(table), nullptr, ++g_next_id));
}
Reply Push(Server& s, uint32_t table, const std::vector<uint64_t>& keys, const std::vector<float>& grads) {
  return Call(s, Request(MsgType::kPush, table, keys, TestPlacement().RowWidth(table), &grads, ++g_next_id));
}
Reply PushPull(Server& s, uint32_t table, const std::vector<uint64_t>& keys, const std::vector<float>& grads) {
  return Call(s, Request(MsgType::kPushPull, table, keys, TestPlacement().RowWidth(table), &grads, ++g_next_id));
}

std::vector<float> InitialRows(uint32_t table, const std::vector<uint64_t>& keys) {
  const TableConfig& cfg = TestPlacement().table(table);
  std::vector<float> out(keys.size() * cfg.dim);
  for (size_t i = 0; i < keys.size(); ++i) {
    InitRowWeights(kSeed, table, keys[i], cfg.init, static_cast<int>(cfg.dim), out.data() + i * cfg.dim);
  }
  return out;
}

// Gradients that are exact binary fractions, so sums and negations are exact in float.
std::vector<float> Grads(size_t n, float scale) {
  std::vector<float> g(n);
  for (size_t i = 0; i < n; ++i) g[i] = scale * static_cast<float>(static_cast<int>(i % 13) - 6) * 0.125f;
  return g;
}

std::vector<float> Negated(const std::vector<float>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = -v[i];
  return out;
}

class ServerTest : public ::testing::TestWithParam<int> {};  // parameter: server threads

TEST_P(ServerTest, PullOfNewRowsReturnsInitialWeights) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kLin, 0, 40);
  Reply r = Pull(*server, kLin, keys);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.header.type, static_cast<uint16_t>(MsgType::kPullReply));
  EXPECT_EQ(r.header.request_id, g_next_id);
  EXPECT_EQ(r.header.table, kLin);
  EXPECT_EQ(r.header.num_keys, 40u);
  EXPECT_EQ(r.header.val_len, 3u);
  EXPECT_EQ(r.header.status, 0u);
  ASSERT_EQ(r.frames.size(), 1u);
  const std::vector<float> expected = InitialRows(kLin, keys);
  EXPECT_EQ(r.Values(), expected);
  // Uniform init really produced non-zero values, so the comparison above means something.
  EXPECT_GT(std::count_if(expected.begin(), expected.end(), [](float v) { return v != 0.0f; }), 100);
  EXPECT_EQ(server->RowsHeld(kLin), 40u);
  EXPECT_EQ(server->RowsHeld(kEmb), 0u);

  Reply zero = Pull(*server, kEmb, KeysOwnedBy(kEmb, 0, 5));
  ASSERT_TRUE(zero.status.ok()) << zero.status.ToString();
  EXPECT_EQ(zero.Values(), std::vector<float>(20, 0.0f));
}

TEST_P(ServerTest, PushThenPullGivesMinusGradient) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kEmb, 0, 30);
  const std::vector<float> g1 = Grads(30 * 4, 1.0f);
  Reply ack = Push(*server, kEmb, keys, g1);
  ASSERT_TRUE(ack.status.ok()) << ack.status.ToString();
  EXPECT_EQ(ack.header.type, static_cast<uint16_t>(MsgType::kPushAck));
  EXPECT_EQ(ack.header.request_id, g_next_id);
  EXPECT_EQ(ack.header.table, kEmb);
  EXPECT_TRUE(ack.frames.empty());

  // Zero init, SGD with lr 1: w = -g.
  Reply r = Pull(*server, kEmb, keys);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.Values(), Negated(g1));

  // A second push on a subset, in a different order, accumulates.
  std::vector<uint64_t> some = {keys[7], keys[2], keys[19]};
  const std::vector<float> g2 = Grads(3 * 4, 2.0f);
  ASSERT_TRUE(Push(*server, kEmb, some, g2).status.ok());
  std::vector<float> expected = Negated(g1);
  const size_t pos[] = {7, 2, 19};
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = 0; j < 4; ++j) expected[pos[i] * 4 + j] -= g2[i * 4 + j];
  EXPECT_EQ(Pull(*server, kEmb, keys).Values(), expected);
  EXPECT_EQ(server->stats().requests, 4u);
  EXPECT_EQ(server->stats().keys, 30u + 30u + 3u + 30u);
  EXPECT_EQ(server->stats().rejected, 0u);
}

TEST_P(ServerTest, PushPullReturnsTheUpdatedRows) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kLin, 0, 25);
  const std::vector<float> g = Grads(25 * 3, 1.0f);
  Reply r = PushPull(*server, kLin, keys, g);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.header.type, static_cast<uint16_t>(MsgType::kPullReply));
  EXPECT_EQ(r.header.request_id, g_next_id);
  EXPECT_EQ(r.header.num_keys, 25u);
  EXPECT_EQ(r.header.val_len, 3u);
  // SGD lr 0.5, no l2: w = init - 0.5 * (g + 0 * init), computed the way the optimizer does.
  std::vector<float> expected = InitialRows(kLin, keys);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] -= 0.5f * (g[i] + 0.0f * expected[i]);
  EXPECT_EQ(r.Values(), expected);
  EXPECT_EQ(Pull(*server, kLin, keys).Values(), expected);
}

// Runs the same request sequence against a server; returns every reply's header and bytes.
std::vector<std::string> RunSequence(Server& server) {
  std::vector<std::string> out;
  auto record = [&](const Reply& r) {
    std::string s(reinterpret_cast<const char*>(&r.header), sizeof(r.header));
    for (const auto& f : r.frames) s += "|" + f.to_string();
    out.push_back(s);
  };
  std::mt19937_64 rng(5);
  const uint64_t foreign = KeysOwnedBy(kEmb, 1, 1)[0];
  std::vector<uint64_t> emb = KeysOwnedBy(kEmb, 0, 600);
  std::vector<uint64_t> lin = KeysOwnedBy(kLin, 0, 600);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(emb.begin(), emb.end(), rng);
    std::shuffle(lin.begin(), lin.end(), rng);
    const std::vector<uint64_t> emb_part(emb.begin(), emb.begin() + 400);
    const std::vector<uint64_t> lin_part(lin.begin() + 100, lin.end());
    record(Pull(server, kLin, lin_part));
    record(Push(server, kEmb, emb_part, Grads(400 * 4, 1.0f + round)));
    record(PushPull(server, kLin, lin_part, Grads(500 * 3, 0.5f * round - 0.25f)));
    record(Pull(server, kEmb, emb));
    record(PushPull(server, kMlp, {0}, Grads(kBlock, 1.0f)));
    record(Push(server, kEmb, {emb[0], foreign}, Grads(8, 1.0f)));  // rejected: foreign key
  }
  return out;
}

TEST(ServerThreadsTest, OneAndThreeThreadsGiveIdenticalReplies) {
  auto one = MakeServer(0, 1);
  auto three = MakeServer(0, 3);
  g_next_id = 1000;
  const std::vector<std::string> a = RunSequence(*one);
  g_next_id = 1000;
  const std::vector<std::string> b = RunSequence(*three);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << "reply " << i << " differs";
  EXPECT_EQ(one->RowsHeld(kEmb), 600u);
  EXPECT_EQ(three->RowsHeld(kEmb), 600u);
  EXPECT_EQ(one->RowsHeld(kLin), three->RowsHeld(kLin));
  EXPECT_GE(one->RowsHeld(kLin), 500u);
}

TEST(ServerThreadsTest, DuplicateKeysInOnePushPullAreAppliedBeforeAnyRowIsReturned) {
  // "push then return the new rows": every returned row reflects all of the request's
  // gradients, whatever the thread count. (The KV client deduplicates keys, but the server
  // accepts repeats, so it must treat them the same way on every configuration.)
  // exposes bug: ps/server.cc Server::Execute, the multi-sub-shard branch interleaves push and
  // pull per key position (Apply then memcpy for each i), so with threads > 1 the first
  // occurrence of a repeated key returns the row after only ITS gradient, while threads == 1
  // (SparseTable::Push for all keys, then Pull) returns the row after all of them.
  const std::vector<uint64_t> owned = KeysOwnedBy(kEmb, 0, 2);
  const std::vector<uint64_t> keys = {owned[0], owned[1], owned[0]};
  const std::vector<float> g = {1, 2, 3, 4, 0.5f, 0.5f, 0.5f, 0.5f, 10, 20, 30, 40};
  const std::vector<float> expected = {-11, -22, -33, -44, -0.5f, -0.5f, -0.5f, -0.5f,
                                       -11, -22, -33, -44};
  for (int threads : {1, 3}) {
    auto server = MakeServer(0, threads);
    Reply r = PushPull(*server, kEmb, keys, g);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.Values(), expected) << "threads=" << threads;
  }
}

TEST(ServerThreadsTest, DuplicateDenseBlocksInOnePushPullAreAppliedBeforeAnyRowIsReturned) {
  // The same for a dense block repeated in one push-pull.
  // exposes bug: ps/server.cc Server::Execute, dense branch (store.Push then store.Pull per
  // key position) returns the block after only the first gradient for its first occurrence,
  // on every thread count.
  const InitConfig init = TestPlacement().table(kMlp).init;
  std::vector<float> block(kBlock);
  InitRowWeights(kSeed, kMlp, 0, init, static_cast<int>(kBlock), block.data());
  std::vector<float> dense_g(2 * kBlock, 0.0f);
  dense_g[5] = 1.0f;           // first occurrence: column 5
  dense_g[kBlock + 5] = 2.0f;  // second occurrence: column 5 again
  block[5] = (block[5] - 1.0f * (1.0f + 0.0f * block[5]));
  block[5] = (block[5] - 1.0f * (2.0f + 0.0f * block[5]));
  for (int threads : {1, 3}) {
    auto server = MakeServer(0, threads);
    Reply r = PushPull(*server, kMlp, {0, 0}, dense_g);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    const std::vector<float> v = r.Values();
    ASSERT_EQ(v.size(), 2 * kBlock);
    EXPECT_EQ(v[5], block[5]) << "first occurrence, threads=" << threads;
    EXPECT_EQ(v[kBlock + 5], block[5]) << "second occurrence, threads=" << threads;
  }
}

// Requests carry their worker's key-set id in header.aux (core/wire.h); a server may cache
// rows by (sender, table, id) but must check the keys and never return stale rows.
TEST(ServerThreadsTest, KeySetIdsNeverReturnStaleOrForeignRows) {
  for (int threads : {1, 3}) {
    auto server = MakeServer(0, threads);
    const std::vector<uint64_t> owned = KeysOwnedBy(kEmb, 0, 8);
    const std::vector<uint64_t> a(owned.begin(), owned.begin() + 4);
    const std::vector<uint64_t> b(owned.begin() + 4, owned.end());
    auto with_id = [](Message m, uint64_t id) {
      m.header.aux = id;
      return m;
    };
    const std::vector<float> g = Grads(16, 1.0f);
    // Pull a under id 5, push to a under id 5, pull a again under id 5: the push is visible.
    ASSERT_TRUE(Call(*server, with_id(Request(MsgType::kPull, kEmb, a, 4, nullptr, 1), 5)).status.ok());
    ASSERT_TRUE(Call(*server, with_id(Request(MsgType::kPush, kEmb, a, 4, &g, 2), 5)).status.ok());
    Reply r = Call(*server, with_id(Request(MsgType::kPull, kEmb, a, 4, nullptr, 3), 5));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.Values(), Negated(g)) << "threads=" << threads;
    // Same id, same sender, same table, other keys: b's rows, not a's.
    r = Call(*server, with_id(Request(MsgType::kPull, kEmb, b, 4, nullptr, 4), 5));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.Values(), std::vector<float>(16, 0.0f)) << "threads=" << threads;
    // Same id and keys from another sender sees the shared rows.
    Message other = with_id(Request(MsgType::kPushPull, kEmb, a, 4, &g, 5), 5);
    other.header.sender = kWorkerRank + 1;
    other.peer = kWorkerRank + 1;
    r = Call(*server, other);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    std::vector<float> twice = Negated(g);
    for (size_t i = 0; i < twice.size(); ++i) twice[i] -= g[i];
    EXPECT_EQ(r.Values(), twice) << "threads=" << threads;
    r = Call(*server, with_id(Request(MsgType::kPull, kEmb, a, 4, nullptr, 6), 5));
    EXPECT_EQ(r.Values(), twice) << "threads=" << threads;
  }
}

// Checks an error reply: kError, the request's id and table, the Status's code, one frame with
// the reason (the same text as the returned Status), containing every `parts`.
void ExpectErrorReply(const Reply& r, uint64_t request_id, uint32_t table, std::vector<std::string> parts) {
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.header.type, static_cast<uint16_t>(MsgType::kError));
  EXPECT_EQ(r.header.request_id, request_id);
  EXPECT_EQ(r.header.table, table);
  EXPECT_EQ(r.header.status, static_cast<uint32_t>(r.status.code()));
  EXPECT_NE(r.header.status, 0u);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.Text(), r.status.message());
  for (const std::string& p : parts) EXPECT_CONTAINS(r.Text(), p);
}

TEST_P(ServerTest, RejectsKeysOwnedByAnotherServerAndAppliesNothing) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> mine = KeysOwnedBy(kEmb, 0, 6);
  const uint64_t foreign = KeysOwnedBy(kEmb, 1, 1)[0];
  ASSERT_TRUE(Push(*server, kEmb, mine, Grads(24, 1.0f)).status.ok());
  const std::vector<float> before = Pull(*server, kEmb, mine).Values();

  // The foreign key comes last: every key before it would be valid.
  std::vector<uint64_t> keys = mine;
  keys.push_back(foreign);
  Reply r = Push(*server, kEmb, keys, Grads(keys.size() * 4, 3.0f));
  ExpectErrorReply(r, g_next_id, kEmb,
                   {"key " + std::to_string(foreign), "server 1", "not to server 0", "emb"});
  Reply rp = PushPull(*server, kEmb, keys, Grads(keys.size() * 4, 3.0f));
  ExpectErrorReply(rp, g_next_id, kEmb, {"key " + std::to_string(foreign), "server 1"});
  Reply pull = Pull(*server, kEmb, keys);
  ExpectErrorReply(pull, g_next_id, kEmb, {"key " + std::to_string(foreign)});

  EXPECT_EQ(Pull(*server, kEmb, mine).Values(), before);
  EXPECT_EQ(server->RowsHeld(kEmb), 6u);  // the foreign key got no row
  EXPECT_EQ(server->stats().rejected, 3u);
}

TEST_P(ServerTest, RejectsUnknownTable) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kEmb, 0, 2);
  Reply r = Call(*server, Request(MsgType::kPull, 3, keys, 4, nullptr, 77));
  ExpectErrorReply(r, 77, 3, {"unknown table id 3", "3 tables"});
  r = Call(*server, Request(MsgType::kPull, 0xffffffffu, keys, 4, nullptr, 78));
  ExpectErrorReply(r, 78, 0xffffffffu, {"unknown table id 4294967295"});
}

TEST_P(ServerTest, RejectsWrongRowWidth) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kEmb, 0, 3);
  const std::vector<float> g = Grads(3 * 5, 1.0f);  // frames consistent with val_len 5
  Reply r = Call(*server, Request(MsgType::kPush, kEmb, keys, 5, &g, 79));
  ExpectErrorReply(r, 79, kEmb, {"row width 5", "rows of 4"});
  r = Call(*server, Request(MsgType::kPull, kMlp, {0}, 4, nullptr, 80));
  ExpectErrorReply(r, 80, kMlp, {"row width 4", "rows of " + std::to_string(kBlock)});
  EXPECT_EQ(server->RowsHeld(kEmb), 0u);
}

TEST_P(ServerTest, RejectsTruncatedValuesFrame) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kEmb, 0, 3);
  std::vector<float> g = Grads(3 * 4 - 1, 1.0f);
  Reply r = Call(*server, Request(MsgType::kPush, kEmb, keys, 4, &g, 81));
  ExpectErrorReply(r, 81, kEmb, {"values frame is 44 bytes, expected 48"});
  // Keys frame not a whole number of keys.
  Message m = Request(MsgType::kPull, kEmb, keys, 4, nullptr, 82);
  m.frames[0] = zmq::message_t(keys.data(), 20);
  r = Call(*server, m);
  ExpectErrorReply(r, 82, kEmb, {"keys frame is 20 bytes, expected 24"});
  EXPECT_EQ(server->RowsHeld(kEmb), 0u);
}

TEST_P(ServerTest, RejectsNonFiniteGradientsAndAppliesNothing) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kEmb, 0, 5);
  ASSERT_TRUE(Push(*server, kEmb, keys, Grads(20, 1.0f)).status.ok());
  const std::vector<float> before = Pull(*server, kEmb, keys).Values();
  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()};
  for (float bad : bad_values) {
    std::vector<float> g = Grads(20, 1.0f);
    g[3 * 4 + 1] = bad;  // key 3, column 1: the earlier keys would be fine on their own
    Reply r = Push(*server, kEmb, keys, g);
    ExpectErrorReply(r, g_next_id, kEmb, {"non-finite", "key " + std::to_string(keys[3]), "column 1"});
    r = PushPull(*server, kEmb, keys, g);
    ExpectErrorReply(r, g_next_id, kEmb, {"non-finite"});
    EXPECT_EQ(Pull(*server, kEmb, keys).Values(), before) << bad;
  }
  // The largest finite float is a legal gradient.
  std::vector<float> big(4, 0.0f);
  big[0] = std::numeric_limits<float>::max();
  EXPECT_TRUE(Push(*server, kEmb, {keys[0]}, big).status.ok());
}

TEST_P(ServerTest, RejectsPullWithTwoFramesAndOtherTypes) {
  auto server = MakeServer(0, GetParam());
  const std::vector<uint64_t> keys = KeysOwnedBy(kEmb, 0, 3);
  const std::vector<float> g = Grads(12, 1.0f);
  Reply r = Call(*server, Request(MsgType::kPull, kEmb, keys, 4, &g, 83));
  ExpectErrorReply(r, 83, kEmb, {"pull: 2 frames", "expected 1"});
  r = Call(*server, Request(MsgType::kPullReply, kEmb, keys, 4, nullptr, 84));
  ExpectErrorReply(r, 84, kEmb, {"servers do not accept pull-reply"});
  r = Call(*server, Request(MsgType::kHeartbeat, kEmb, keys, 4, nullptr, 85));
  ExpectErrorReply(r, 85, kEmb, {"heartbeat"});
  // A push whose values frame is missing.
  r = Call(*server, Request(MsgType::kPush, kEmb, keys, 4, nullptr, 86));
  ExpectErrorReply(r, 86, kEmb, {"push: 1 frames", "expected 2"});
  EXPECT_EQ(server->RowsHeld(kEmb), 0u);
  EXPECT_EQ(server->stats().rejected, 4u);
}

TEST_P(ServerTest, DenseBlocksOwnedByThisServer) {
  // Table 2 of 2 servers: block 0 on server (2 + 0) % 2 = 0, block 1 on server 1.
  ASSERT_EQ(TestPlacement().NumDenseBlocks(kMlp), 2u);
  ASSERT_EQ(TestPlacement().ServerOf(kMlp, 0), 0);
  ASSERT_EQ(TestPlacement().ServerOf(kMlp, 1), 1);
  const InitConfig init = TestPlacement().table(kMlp).init;
  auto server = MakeServer(0, GetParam());
  Reply r = Pull(*server, kMlp, {0});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.header.val_len, kBlock);
  std::vector<float> expected(kBlock);
  InitRowWeights(kSeed, kMlp, 0, init, static_cast<int>(kBlock), expected.data());
  EXPECT_EQ(r.Values(), expected);

  const std::vector<float> g = Grads(kBlock, 1.0f);
  for (size_t i = 0; i < kBlock; ++i) expected[i] -= 1.0f * (g[i] + 0.0f * expected[i]);
  r = PushPull(*server, kMlp, {0}, g);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.Values(), expected);
  EXPECT_EQ(Pull(*server, kMlp, {0}).Values(), expected);

  // Block 1 lives on server 1; block 2 does not exist.
  r = Pull(*server, kMlp, {1});
  ExpectErrorReply(r, g_next_id, kMlp, {"key 1", "server 1", "not to server 0"});
  r = Pull(*server, kMlp, {0, 2});
  ExpectErrorReply(r, g_next_id, kMlp, {"key 2", "no server"});
  EXPECT_EQ(Pull(*server, kMlp, {0}).Values(), expected);
}

TEST_P(ServerTest, ShortLastDenseBlockIsPaddedWithZeros) {
  const InitConfig init = TestPlacement().table(kMlp).init;
  auto server = MakeServer(1, GetParam());
  std::vector<float> weights(kLastBlockLength);
  InitRowWeights(kSeed, kMlp, 1, init, static_cast<int>(kLastBlockLength), weights.data());
  std::vector<float> expected(kBlock, 0.0f);
  std::copy(weights.begin(), weights.end(), expected.begin());
  Reply r = Pull(*server, kMlp, {1});
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.Values().size(), kBlock);
  EXPECT_EQ(r.Values(), expected);

  // Gradients in the padding are ignored: the padding stays zero, the block moves by -g.
  std::vector<float> g(kBlock, 1.0f);
  for (size_t i = 0; i < kLastBlockLength; ++i) g[i] = static_cast<float>(i % 5) * 0.25f;
  for (size_t i = 0; i < kLastBlockLength; ++i) expected[i] -= 1.0f * (g[i] + 0.0f * expected[i]);
  r = PushPull(*server, kMlp, {1}, g);
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.Values(), expected);
  ASSERT_TRUE(Push(*server, kMlp, {1}, g).status.ok());
  for (size_t i = 0; i < kLastBlockLength; ++i) expected[i] -= 1.0f * (g[i] + 0.0f * expected[i]);
  EXPECT_EQ(Pull(*server, kMlp, {1}).Values(), expected);
}

INSTANTIATE_TEST_SUITE_P(Threads, ServerTest, ::testing::Values(1, 3),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::to_string(info.param) + "threads";
                         });

}  // namespace
}  // namespace embark
